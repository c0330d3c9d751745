"""A real, single-node Kubernetes control plane on loopback for the tests: etcd, kube-apiserver and
kube-controller-manager (no scheduler, no kubelet: Pods stay Pending), on free ports, stopped and
removed afterwards. The flags are those that work with the binaries `provision k8s` builds.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from imagefleet.localregistry import free_port

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "openssl")


def missing() -> list[str]:
    """The binaries this needs that are not on PATH."""
    return [b for b in BINARIES if shutil.which(b) is None]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _pki(directory: Path) -> str:
    pki = directory / "pki"
    pki.mkdir(parents=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=imagefleet-test-ca",
        cwd=pki,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "apiserver.key",
        "-out",
        "apiserver.csr",
        "-subj",
        "/CN=kube-apiserver",
        cwd=pki,
    )
    (pki / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.96.0.1\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "apiserver.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "apiserver.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        cwd=pki,
    )
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    token = secrets.token_hex(24)
    # A second user with no RBAC rights at all: the "no permission" case.
    nobody = secrets.token_hex(24)
    (pki / "tokens.csv").write_text(f"{token},admin,1000,system:masters\n{nobody},nobody,1001\n")
    (pki / "nobody.token").write_text(nobody)
    return token


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def running(directory: Path) -> Iterator[Path]:
    """Start the control plane under ``directory``; yield the path of its kubeconfig."""
    token = _pki(directory)
    pki = directory / "pki"
    api, client, peer = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            _start(
                [
                    "etcd",
                    "--name",
                    "test",
                    "--data-dir",
                    str(directory / "etcd"),
                    "--listen-client-urls",
                    f"http://127.0.0.1:{client}",
                    "--advertise-client-urls",
                    f"http://127.0.0.1:{client}",
                    "--listen-peer-urls",
                    f"http://127.0.0.1:{peer}",
                    "--initial-advertise-peer-urls",
                    f"http://127.0.0.1:{peer}",
                    "--initial-cluster",
                    f"test=http://127.0.0.1:{peer}",
                ],
                directory / "etcd.log",
            )
        )
        procs.append(
            _start(
                [
                    "kube-apiserver",
                    f"--etcd-servers=http://127.0.0.1:{client}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={api}",
                    "--advertise-address=127.0.0.1",
                    f"--tls-cert-file={pki / 'apiserver.crt'}",
                    f"--tls-private-key-file={pki / 'apiserver.key'}",
                    f"--client-ca-file={pki / 'ca.crt'}",
                    f"--token-auth-file={pki / 'tokens.csv'}",
                    f"--service-account-key-file={pki / 'sa.pub'}",
                    f"--service-account-signing-key-file={pki / 'sa.key'}",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    "--service-cluster-ip-range=10.96.0.0/24",
                    "--authorization-mode=Node,RBAC",
                    f"--cert-dir={pki / 'generated'}",
                ],
                directory / "apiserver.log",
            )
        )
        kubeconfig = directory / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{api}\n"
            f"    certificate-authority: {pki / 'ca.crt'}\n"
            f"users:\n- name: admin\n  user:\n    token: {token}\n"
            "contexts:\n- name: test\n  context: {cluster: test, user: admin}\n"
            "current-context: test\n"
        )
        kubeconfig.chmod(0o600)
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(requests.RequestException):
                ready = requests.get(
                    f"https://127.0.0.1:{api}/readyz",
                    timeout=2,
                    verify=str(pki / "ca.crt"),
                    headers={"Authorization": f"Bearer {token}"},
                )
                if ready.text == "ok":
                    break
            if time.monotonic() > deadline or procs[-1].poll() is not None:
                tail = (directory / "apiserver.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"kube-apiserver did not become ready:\n{tail}")
            time.sleep(0.5)
        procs.append(
            _start(
                [
                    "kube-controller-manager",
                    f"--kubeconfig={kubeconfig}",
                    "--bind-address=127.0.0.1",
                    "--secure-port=0",
                    "--port=0",
                    "--leader-elect=false",
                    f"--service-account-private-key-file={pki / 'sa.key'}",
                    f"--root-ca-file={pki / 'ca.crt'}",
                    "--use-service-account-credentials=false",
                    "--controllers=*,-nodeipam",
                    f"--cert-dir={pki / 'kcm'}",
                ],
                directory / "controller-manager.log",
            )
        )
        yield kubeconfig
    finally:
        _stop(procs)
