#!/usr/bin/python3
"""Run the commands of the docs, as written, and check what they print.

usage: doc-test.py [--logs DIR] [--list] [FILE.md...]
       (default: README.md and docs/*.md of this tree)

A code block is checked when the line before it (blank lines aside) is a
marker comment, invisible in the rendered page:

    <!-- doc-test: KIND [status=N] [timeout=SECS] [exact] -->

KIND is one of
  host   shell commands run by bash from the top of the tree, one after
         the other, stopping at the first that fails; HOME is a fresh
         folder, so "~/x" paths are the test's own
  guest  commands run in one guest booted for all guest blocks:
         kvm/run-vm --share DIR --hmm mode=private
         --hmm mode=coherent,vram-size=64M (the guide says so), in order
  pty    a terminal session: the first command starts it on a pseudo
         terminal; the lines after the guest prompt "/ # " are typed in
  file   the block is written to the path given after "file" (~ is HOME)

Lines of a host block that start with "$ ", of a guest block with "/ # "
(busybox's prompt), are the commands (a trailing backslash continues one); the other lines are
what the commands print, checked in order, each line against one line of
the output. In those lines "..." stands for any text, a run of digits for
any number (unless the marker says "exact") and a run of blanks for any
blanks. A block without such
prompts is one script whose output is not checked. status=N: the last
command exits with N (default 0); every other command must succeed.

Prints TAP, one result per block; the last line on stderr sums up.
"""
import argparse
import glob
import os
import pty
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MARKER = re.compile(r"^\s*<!--\s*doc-test:\s*(\S+)(.*?)-->\s*$")
GUEST_VM = ["--hmm", "mode=private", "--hmm", "mode=coherent,vram-size=64M"]
# busybox sh's prompt: the working directory, then "# " (root)
GUEST_PROMPT = re.compile(r"(?:^|\n)[/~][^\n ]* # ")


class Block:
    def __init__(self, path, line, kind, opts, text):
        self.path = os.path.relpath(path, TOP)
        self.line = line
        self.kind = kind
        self.text = text
        self.status = 0
        self.timeout = 300
        self.target = None
        self.exact = False
        words = shlex.split(opts)
        if kind == "file":
            self.target = words.pop(0) if words else None
        for w in words:
            key, _, val = w.partition("=")
            if key == "status":
                self.status = int(val)
            elif key == "timeout":
                self.timeout = int(val)
            elif key == "exact" and not val:
                self.exact = True
            else:
                raise ValueError(f"{self.where()}: unknown option {w}")

    def where(self):
        return f"{self.path}:{self.line}"

    def name(self):
        first = next((ln for ln in self.text.splitlines() if ln.strip()), "")
        first = re.sub(r"^(\$|#|/ #) ", "", first).strip()
        if len(first) > 60:
            first = first[:57] + "..."
        return f"{self.where()} {self.kind}: {first}"


def code_block(lines, i):
    """The code block starting at or after lines[i]: (text, next index)."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        return None, i
    first = lines[i]
    fence = re.match(r"^(\s*)(```+|~~~+)", first)
    if fence:
        indent, mark = fence.group(1), fence.group(2)
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(mark):
            ln = lines[i]
            body.append(ln[len(indent):] if ln.startswith(indent) else ln)
            i += 1
        return "\n".join(body) + "\n", i + 1
    if not re.match(r"^( {4,}|\t)", first):
        return None, i
    body = []
    while i < len(lines) and (not lines[i].strip() or
                              re.match(r"^( {4,}|\t)", lines[i])):
        body.append(lines[i].expandtabs(4))
        i += 1
    while body and not body[-1].strip():
        body.pop()
    indent = min(len(b) - len(b.lstrip()) for b in body if b.strip())
    return "\n".join(b[indent:] for b in body) + "\n", i


def find_blocks(paths):
    blocks = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        i = 0
        while i < len(lines):
            m = MARKER.match(lines[i])
            if not m:
                i += 1
                continue
            text, nxt = code_block(lines, i + 1)
            if text is None:
                raise ValueError(f"{path}:{i + 1}: doc-test marker without a code block")
            blocks.append(Block(path, i + 1, m.group(1), m.group(2), text))
            i = nxt
    return blocks


def steps(text, prompt):
    """[(command, [expected lines])] of a block; None if it has no prompts."""
    out = []
    cont = None
    for ln in text.splitlines():
        if cont is not None:
            out[-1][0] += "\n" + ln
            cont = ln.endswith("\\") or None
            continue
        if ln.startswith(prompt):
            out.append([ln[len(prompt):], []])
            cont = ln.endswith("\\") or None
        elif out:
            if ln.strip():
                out[-1][1].append(ln)
        elif ln.strip():
            return None
    return out or None


def pattern(line, exact=False):
    """The regular expression a documented output line stands for."""
    rx = []
    for tok in re.findall(r"\.\.\.|[0-9]+|\s+|.", line.strip()):
        if tok == "...":
            rx.append(".*?")
        elif tok.isdigit() and not exact:
            rx.append("[0-9]+")
        elif tok.isspace():
            rx.append(r"\s+")
        else:
            rx.append(re.escape(tok))
    return re.compile("".join(rx))


def match_output(expected, output, exact=False):
    """None if every expected line matches an output line, in order; else
    the first expected line that did not."""
    actual = [a.rstrip() for a in output.replace("\r", "").splitlines()]
    pos = 0
    for exp in expected:
        rx = pattern(exp, exact)
        while pos < len(actual) and not rx.fullmatch(actual[pos].strip()):
            pos += 1
        if pos >= len(actual):
            return exp
        pos += 1
    return None


class Runner:
    def __init__(self, logs):
        self.logs = logs
        self.home = tempfile.mkdtemp(prefix="vhmm-doc-home.")
        self.n = 0
        self.failed = 0
        self.env = dict(os.environ, HOME=self.home)

    def result(self, block, why=None, log=None):
        self.n += 1
        if why is None:
            print(f"ok {self.n} {block.name()}", flush=True)
            return
        self.failed += 1
        print(f"not ok {self.n} {block.name()}", flush=True)
        print(f"# {why}")
        if log and os.path.exists(log):
            with open(log, errors="replace") as f:
                tail = f.read().replace("\r", "").splitlines()[-25:]
            for ln in tail:
                print(f"#   | {ln}")
            print(f"# log: {log}")
        sys.stdout.flush()

    def log_path(self, block, suffix="log"):
        name = re.sub(r"[^A-Za-z0-9]+", "-", block.where())
        return os.path.join(self.logs, f"{name}.{suffix}")

    def script(self, block, prompt):
        """The shell script of a block and the output it must print."""
        st = steps(block.text, prompt)
        if st is None:
            return block.text, [], None
        return "\n".join(c for c, _ in st) + "\n", [e for _, es in st for e in es], st

    def run_file(self, block):
        path = os.path.expanduser(block.target.replace("~", self.home, 1)) \
            if block.target.startswith("~") else os.path.join(TOP, block.target)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(block.text)
        self.result(block)

    def run_host(self, block):
        text, expected, _ = self.script(block, "$ ")
        log = self.log_path(block)
        with open(log, "w") as out:
            try:
                p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", text],
                                   cwd=TOP, env=self.env, stdout=out,
                                   stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL,
                                   timeout=block.timeout,
                                   start_new_session=True)
                rc = p.returncode
            except subprocess.TimeoutExpired:
                self.result(block, f"timed out after {block.timeout} s", log)
                return
        with open(log, errors="replace") as f:
            output = f.read()
        self.check(block, rc, expected, output, log)

    def check(self, block, rc, expected, output, log):
        if rc != block.status:
            self.result(block, f"exit status {rc}, the doc says {block.status}", log)
            return
        missing = match_output(expected, output, block.exact)
        if missing is not None:
            self.result(block, f"no output line matches the doc's: {missing.strip()}", log)
            return
        self.result(block)

    def run_pty(self, block):
        st = steps(block.text, "$ ")
        log = self.log_path(block)
        if not st:
            self.result(block, "a pty block starts with a '$ ' command")
            return
        cmd, lines = st[0][0], st[0][1]
        # what the boot prints, then "/ # CMD" lines typed in and their output
        first = next((i for i, ln in enumerate(lines) if ln.startswith("/ # ")),
                     len(lines))
        boot = lines[:first]
        session = steps("\n".join(lines[first:]), "/ # ")
        if session is None:
            self.result(block, "no '/ # ' guest prompt lines after the command")
            return
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(TOP)
            os.execve("/bin/bash", ["bash", "-c", cmd], self.env)
        buf = ""
        deadline = time.time() + block.timeout
        why = None
        logf = open(log, "w")

        def read_until(rx):
            nonlocal buf
            while time.time() < deadline:
                if rx is not None and rx.search(buf):
                    return True
                r, _, _ = select.select([fd], [], [], 1)
                if not r:
                    continue
                try:
                    data = os.read(fd, 4096).decode(errors="replace")
                except OSError:
                    return rx is None
                if not data:
                    return rx is None
                logf.write(data)
                logf.flush()
                buf += data
            return False

        # the boot, up to the first prompt
        if not read_until(GUEST_PROMPT):
            why = "no shell prompt"
        elif match_output(boot, buf, block.exact) is not None:
            why = f"the boot printed no line matching the doc's: {match_output(boot, buf, block.exact).strip()}"
        else:
            for line, expected in session:
                buf = ""
                os.write(fd, (line + "\r").encode())
                last = line.strip() in ("exit", "poweroff")
                if not read_until(None if last else GUEST_PROMPT):
                    why = f"'{line}': no prompt back" if not last else \
                        f"'{line}': the session did not end"
                    break
                missing = match_output(expected, buf, block.exact)
                if missing is not None:
                    why = f"after '{line}': no output line matches the doc's: {missing.strip()}"
                    break
        if why is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, wstatus = os.waitpid(pid, 0)
        status = os.waitstatus_to_exitcode(wstatus)
        os.close(fd)
        logf.close()
        if why is None and status != block.status:
            why = f"exit status {status}, the doc says {block.status}"
        self.result(block, why, log if why else None)

    def run_guest(self, blocks):
        if not blocks:
            return
        share = tempfile.mkdtemp(prefix="vhmm-doc-guest.")
        lines = ["#!/bin/sh", "# the guest blocks of the docs, one after the other"]
        plans = []
        for i, b in enumerate(blocks):
            text, expected, _ = self.script(b, "/ # ")
            with open(os.path.join(share, f"b{i}.sh"), "w") as f:
                f.write(text)
            lines.append(f"(cd / && sh -e {share}/b{i}.sh) >{share}/b{i}.out 2>&1; "
                         f"echo $? >{share}/b{i}.rc")
            plans.append((b, expected))
        with open(os.path.join(share, "run.sh"), "w") as f:
            f.write("\n".join(lines) + "\n")
        log = os.path.join(self.logs, "guest.log")
        timeout = sum(b.timeout for b in blocks) // 2 + 120
        p = subprocess.run([os.path.join(TOP, "kvm/run-vm"), "--quiet",
                            "--log", log, "--timeout", str(timeout),
                            "--share", share, *GUEST_VM, "--", "sh run.sh"],
                           cwd=TOP, env=self.env, stdout=subprocess.DEVNULL,
                           stderr=open(log + ".err", "w"))
        for i, (b, expected) in enumerate(plans):
            out = os.path.join(share, f"b{i}.out")
            rcf = os.path.join(share, f"b{i}.rc")
            if not os.path.exists(rcf):
                self.result(b, f"the guest did not run it (run-vm exit {p.returncode})",
                            log + ".err")
                continue
            with open(rcf) as f:
                rc = int(f.read().strip() or "-1")
            with open(out, errors="replace") as f:
                output = f.read()
            keep = self.log_path(b)
            shutil.copy(out, keep)
            self.check(b, rc, expected, output, keep)
        shutil.rmtree(share, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logs", default=os.path.join(
        os.environ.get("BUILD", os.path.join(TOP, "build")), "logs", "docs"))
    ap.add_argument("--list", action="store_true", help="list the blocks only")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    files = args.files or [os.path.join(TOP, "README.md")] + \
        sorted(glob.glob(os.path.join(TOP, "docs", "*.md")))
    blocks = find_blocks(files)
    if args.list:
        for b in blocks:
            print(b.name())
        return 0
    os.makedirs(args.logs, exist_ok=True)
    r = Runner(args.logs)
    guest = []
    # files first: a command may come before the program it builds
    for b in blocks:
        if b.kind == "file":
            r.run_file(b)
    for b in blocks:
        if b.kind == "guest":
            guest.append(b)
        elif b.kind == "host":
            r.run_host(b)
        elif b.kind == "pty":
            r.run_pty(b)
        elif b.kind != "file":
            raise ValueError(f"{b.where()}: unknown doc-test kind {b.kind}")
    r.run_guest(guest)
    print(f"1..{r.n}")
    shutil.rmtree(r.home, ignore_errors=True)
    print(f"# {r.n} documented blocks run, {r.failed} failed", file=sys.stderr)
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
