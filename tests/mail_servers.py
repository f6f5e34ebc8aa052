"""Real mail servers for the tests: Debian's dovecot (IMAP, IMAPS, LMTP) and exim4 (SMTP), started in a temp
dir on free 127.0.0.1 ports with configs of their own, as an unprivileged user, and stopped at the end.

Mail flow: a message handed to exim's SMTP port for a user of ``MAIL_DOMAIN`` goes to dovecot over LMTP
into that user's maildir; for an unknown local user exim writes a real bounce (DSN) to the sender, delivered
the same way; mail for ``FORWARD_DOMAIN`` is relayed to the port named in ``forward_port`` (the inbound
listener's tests set it); everything else is refused (no relaying).

The TLS certificate comes from a CA made here with ``cryptography``: clients verify it with ``ca_file``.
When dovecot or exim is missing the fixtures skip with a message saying how to install them
(``make test-deps``).
"""

from __future__ import annotations

import datetime as dt
import grp
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MAIL_DOMAIN = "mail.test"
FORWARD_DOMAIN = "forward.test"
PASSWORD = "mailbox-pass-1"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
EXIM = shutil.which("exim4") or shutil.which("exim") or "/usr/sbin/exim4"
# Root runs the servers as this unprivileged user (their files live in a dir it owns).
UNPRIVILEGED_USER = "nobody"


def missing_servers() -> str | None:
    """Why the real servers cannot run here, or None when they can."""
    missing = [
        name
        for name, path in (("dovecot-imapd", DOVECOT), ("exim4-daemon-light", EXIM))
        if not os.path.exists(path)
    ]
    if not os.path.exists("/usr/lib/dovecot/lmtp"):
        missing.append("dovecot-lmtpd")
    if missing:
        return f"{', '.join(missing)} not installed: run `make test-deps` as root (or apt-get install {' '.join(missing)})"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 15) -> None:
    output = log.parent / "stdout.log"

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}):\n{_tail(output)}\nlog:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {seconds}s; log:\n{_tail(log)}")


def _tail(path: Path) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-30:])
    except OSError:
        return "(no log)"


def make_test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it: (ca.pem, server.pem, server.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nurture test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


@dataclass
class MailServers:
    """Running dovecot + exim. Users are added with ``add_user``; every user's password is ``PASSWORD``."""

    root: Path
    imap_port: int
    imaps_port: int
    lmtp_port: int
    smtp_port: int
    ca_file: Path
    forward_port_file: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    users: set[str] = field(default_factory=set)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def add_user(self, address: str) -> str:
        """Create a mailbox for ``address`` (dovecot login and exim's list of local users); returns it."""
        address = address.lower()
        if address in self.users:
            return address
        uid, gid = _server_ids()
        with open(self.root / "dovecot" / "users", "a") as users:
            users.write(f"{address}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{self.root / 'home' / address}::\n")
        with open(self.root / "exim" / "local_users", "a") as local:
            local.write(f"{address}\n")
        self.users.add(address)
        self._wait_until_dovecot_knows(address)
        return address

    def _wait_until_dovecot_knows(self, address: str) -> None:
        # dovecot re-reads its passwd-file when the file's mtime moves; two users added within the same
        # second may not move it, so the stamp is moved on explicitly and the login tried until it works.
        users = self.root / "dovecot" / "users"
        deadline = time.monotonic() + 10
        bump = 1
        while True:
            stamp = time.time() + bump
            os.utime(users, (stamp, stamp))
            try:
                client = imaplib.IMAP4(self.host, self.imap_port, timeout=5)
                try:
                    client.login(address, PASSWORD)
                    return
                finally:
                    client.shutdown()
            except imaplib.IMAP4.error:
                if time.monotonic() > deadline:
                    raise
                bump += 1
                time.sleep(0.05)

    def set_forward_port(self, port: int) -> None:
        """Where exim relays mail for FORWARD_DOMAIN (an inbound listener under test)."""
        self.forward_port_file.write_text(str(port))

    def flush_exim_queue(self) -> None:
        """Make exim retry deferred mail now (as its own daemon would on its next queue run)."""
        subprocess.run(
            [EXIM, "-C", str(self.root / "exim" / "exim.conf"), "-qff"],
            check=False,
            capture_output=True,
            timeout=30,
            **_run_as(),
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _server_ids() -> tuple[int, int]:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
        return entry.pw_uid, entry.pw_gid
    return os.getuid(), os.getgid()


def _run_as() -> dict:
    if os.geteuid() == 0:
        uid, gid = _server_ids()
        return {"user": uid, "group": gid, "extra_groups": []}
    return {}


def _chown_tree(path: Path) -> None:
    if os.geteuid() != 0:
        return
    uid, gid = _server_ids()
    for directory, _dirs, files in os.walk(path):
        os.chown(directory, uid, gid)
        for name in files:
            os.chown(os.path.join(directory, name), uid, gid)


def start_mail_servers() -> MailServers:
    """Start dovecot and exim in a fresh directory of /tmp (one the unprivileged user can reach, unlike
    pytest's 0700 temp dirs) and wait until both listen. ``stop()`` ends them and removes the directory."""
    reason = missing_servers()
    if reason:
        raise RuntimeError(reason)
    root = Path(tempfile.mkdtemp(prefix="nurture-mail-"))
    for sub in ("dovecot/run", "dovecot/state", "home", "exim/spool", "tls"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = make_test_ca(root / "tls")
    servers = MailServers(
        root=root,
        imap_port=free_port(),
        imaps_port=free_port(),
        lmtp_port=free_port(),
        smtp_port=free_port(),
        ca_file=ca_file,
        forward_port_file=root / "exim" / "forward_port",
    )
    (root / "dovecot" / "users").write_text("")
    (root / "exim" / "local_users").write_text("")
    servers.forward_port_file.write_text("25")
    user = pwd.getpwuid(_server_ids()[0]).pw_name
    group_id = _server_ids()[1]
    (root / "dovecot" / "dovecot.conf").write_text(
        DOVECOT_CONF.format(
            root=root,
            user=user,
            group_id=group_id,
            imap=servers.imap_port,
            imaps=servers.imaps_port,
            lmtp=servers.lmtp_port,
            cert=cert_file,
            key=key_file,
        )
    )
    (root / "exim" / "exim.conf").write_text(
        EXIM_CONF.format(
            root=root,
            user=user,
            group=grp.getgrgid(group_id).gr_name,
            smtp=servers.smtp_port,
            lmtp=servers.lmtp_port,
            domain=MAIL_DOMAIN,
            forward_domain=FORWARD_DOMAIN,
        )
    )
    os.chmod(root, 0o755)
    _chown_tree(root)
    try:
        with open(root / "dovecot" / "stdout.log", "wb") as output:
            dovecot = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(root / "dovecot" / "dovecot.conf")],
                stdout=output,
                stderr=subprocess.STDOUT,
                **_run_as(),
            )
        servers.processes.append(dovecot)
        _wait_for_port(servers.imap_port, dovecot, root / "dovecot" / "dovecot.log")
        _wait_for_port(servers.lmtp_port, dovecot, root / "dovecot" / "dovecot.log")
        with open(root / "exim" / "stdout.log", "wb") as output:
            exim = subprocess.Popen(
                [EXIM, "-C", str(root / "exim" / "exim.conf"), "-bdf", "-q2s", "-oX", str(servers.smtp_port)],
                stdout=output,
                stderr=subprocess.STDOUT,
                **_run_as(),
            )
        servers.processes.append(exim)
        _wait_for_port(servers.smtp_port, exim, root / "exim" / "mainlog")
    except BaseException:
        servers.stop()
        raise
    return servers


DOVECOT_CONF = """\
# A throwaway dovecot for the tests: everything under {root}, run as {user}.
base_dir = {root}/dovecot/run
state_dir = {root}/dovecot/state
log_path = {root}/dovecot/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
default_internal_user = {user}
default_internal_group = #{group_id}
default_login_user = {user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_privileged_group =
auth_mechanisms = plain login
auth_failure_delay = 0
disable_plaintext_auth = no
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {root}/dovecot/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {root}/dovecot/users
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  chroot =
}}
service submission-login {{
  chroot =
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
protocol lmtp {{
  postmaster_address = postmaster@mail.test
}}
"""

EXIM_CONF = """\
# A throwaway exim for the tests: listens on 127.0.0.1:{smtp}, delivers {domain} to dovecot over LMTP,
# bounces unknown local users back to the sender, relays {forward_domain} to a listener under test.
primary_hostname = mx.{domain}
domainlist local_domains = {domain}
domainlist forward_domains = {forward_domain}
qualify_domain = {domain}
local_interfaces = 127.0.0.1
spool_directory = {root}/exim/spool
log_file_path = {root}/exim/%slog
pid_file_path = {root}/exim/exim.pid
exim_user = {user}
exim_group = {group}
keep_environment =
never_users =
trusted_users = {user}
host_lookup =
rfc1413_hosts =
message_size_limit = 20M
timeout_frozen_after = 1h
ignore_bounce_errors_after = 0s
delay_warning =
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data
tls_advertise_hosts =

begin acl

acl_check_rcpt:
  accept domains = +local_domains : +forward_domains
  deny message = relay not permitted

acl_check_data:
  accept

begin routers

forward:
  driver = accept
  domains = +forward_domains
  transport = forward_smtp

local_user:
  driver = accept
  domains = +local_domains
  local_part_suffix = +*
  local_part_suffix_optional
  condition = ${{lookup{{$local_part@$domain}}lsearch{{{root}/exim/local_users}}{{yes}}{{no}}}}
  transport = dovecot_lmtp

begin transports

dovecot_lmtp:
  driver = smtp
  protocol = lmtp
  hosts = 127.0.0.1
  hosts_override
  allow_localhost
  port = {lmtp}

forward_smtp:
  driver = smtp
  hosts = 127.0.0.1
  hosts_override
  allow_localhost
  port = ${{readfile{{{root}/exim/forward_port}}{{}}}}

begin retry

*  *  F,1h,2s

begin rewrite
"""
