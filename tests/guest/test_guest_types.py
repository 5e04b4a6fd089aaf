"""Kernel types in the second kernel: Debian's kernel loads modules with BTF of their own (9p,
which the guest's root file system needs, among them), so a struct only a module defines is
found in the module's BTF, split on vmlinux's."""

from __future__ import annotations

import pytest

from tracer.cdefs.btf_types import BtfTypes
from tracer.host import btf as host
from tracer.host.btf import STRUCT
from tracer.types import StructType

pytestmark = pytest.mark.kernel


def test_a_struct_only_a_module_defines_comes_from_its_btf():
    assert host.module_names(), "no loaded module has BTF of its own"
    types = BtfTypes(host.vmlinux())
    kernel = types.btf
    for module in types.modules():
        own = [n for n in module.scan.names[STRUCT] if not kernel.find(n, STRUCT)]
        if own:
            found = types.find(f"struct {own[0]}")
            assert isinstance(found, StructType) and found.origin == f"BTF of {module.origin}"
            assert found.size > 0 and found.members
            return
    pytest.fail("no loaded module defines a struct that vmlinux lacks")
