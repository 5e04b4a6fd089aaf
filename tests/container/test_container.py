"""tracer in a container, as a CI job runs it: the image scripts/container/build makes (from a
debootstrap base: no registry), run privileged with the host's PID namespace, counts the calls
of a workload running on the host, exactly."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.kernel

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = "tracer:test"
# The host's tracing seen from the container: its processes (--pid=host), and the kernel
# headers BCC compiles against (tracer merges them inside the container when it needs to).
MOUNTS = ["--pid=host", "-v", "/lib/modules:/lib/modules:ro", "-v", "/usr/src:/usr/src:ro"]
# Real hosts accept --privileged; a VM whose capability bounding set lacks CAP_SYS_RESOURCE
# refuses it ("unable to apply caps"), and this is the equivalent that works there.
PRIVILEGED = [["--privileged"],
              ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt",
               "seccomp=unconfined", "--security-opt", "apparmor=unconfined"]]


@pytest.fixture(scope="module")
def image():
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("docker is not installed or its daemon is not running; scripts/test sets "
                    "both up (scripts/setup with TRACER_SETUP_CONTAINER=1)", pytrace=False)
    built = subprocess.run(["bash", os.path.join(REPO, "scripts/container/build"), IMAGE],
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr
    return IMAGE


@pytest.fixture(scope="module")
def privileged(image):
    """The docker run options that give the container what tracing needs, on this host."""
    for options in PRIVILEGED:
        proc = subprocess.run(["docker", "run", "--rm", *options, image, "--version"],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            return options
    pytest.fail(f"no privileged container runs here: {proc.stderr.strip()}", pytrace=False)


def test_a_container_counts_a_host_workloads_calls(image, privileged, workload):
    host = subprocess.Popen([workload("tk_paused"), "321", "0"], stdin=subprocess.PIPE)
    try:
        tracer = subprocess.Popen(
            ["docker", "run", "--rm", *privileged, *MOUNTS, image, "-p", str(host.pid), "-e",
             'BEGIN { printf("tracing\\n"); } '
             "tracepoint:syscalls:sys_enter_getppid /pid == $1/ { @ = count(); }",
             str(host.pid)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # BEGIN runs once every probe is attached: only then does the workload make its calls.
        ready = tracer.stdout.readline()
        assert ready == "tracing\n", ready + tracer.stderr.read()
        host.stdin.write(b"x")
        host.stdin.close()
        assert host.wait(timeout=60) == 0
        out, err = tracer.communicate(timeout=120)
        assert (tracer.returncode, out) == (0, "\n\n@: 321\n"), err
    finally:
        host.kill()
        host.wait()


def test_doctor_in_a_container_says_what_is_missing(image, privileged):
    proc = subprocess.run(["docker", "run", "--rm", *privileged, "--pid=host", image, "doctor"],
                          capture_output=True, text=True, timeout=120)
    assert re.search(r"^root +ok", proc.stdout, re.M), proc.stdout + proc.stderr
    assert re.search(r"^host PID namespace +ok", proc.stdout, re.M), proc.stdout
    # Without the host's headers bound in, it says to bind them.
    headers = re.search(r"^kernel headers +missing .*$", proc.stdout, re.M)
    assert headers and "-v /lib/modules:/lib/modules:ro -v /usr/src:/usr/src:ro" in \
        headers.group(0), proc.stdout
    # Unprivileged, in a PID namespace of its own: the capabilities, and --pid=host.
    plain = subprocess.run(["docker", "run", "--rm", image, "doctor"], capture_output=True,
                           text=True, timeout=120)
    assert plain.returncode == 1
    assert re.search(r"^root +missing .*--privileged", plain.stdout, re.M), plain.stdout
    assert re.search(r"^host PID namespace +missing .*--pid=host", plain.stdout, re.M)
