#!/usr/bin/env node
// Launcher of the native `agnt` build: find the agnt-<platform>-<arch> package that
// npm installed for this machine, run its binary with our arguments and stdio, forward
// signals to it, and end with its exit status.
"use strict";

const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const SUPPORTED = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "win32-x64"];
const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR2", "SIGBREAK"];
// Exit code 1 is the CLI's "general error"; the shape is the CLI's error JSON on stderr.
const EXIT_GENERAL = 1;

function fail(code, message) {
  process.stderr.write(JSON.stringify({ error: { code, message, status: null } }) + "\n");
  process.exit(EXIT_GENERAL);
}

// The Linux builds link against glibc; Node reports no glibc version on musl (Alpine).
function isMusl() {
  if (process.platform !== "linux") return false;
  try {
    return !process.report.getReport().header.glibcVersionRuntime;
  } catch {
    return false;
  }
}

function binaryPath() {
  const platform = `${process.platform}-${process.arch}`;
  const packageName = `agnt-${platform}`;
  if (!SUPPORTED.includes(platform)) {
    fail(
      "unsupported_platform",
      `agnt has no binary for ${platform}; supported: ${SUPPORTED.join(", ")}. ` +
        "Install the Python package instead: pip install agnt-cli",
    );
  }
  if (isMusl()) {
    fail(
      "unsupported_platform",
      `agnt's ${platform} binary needs glibc, and this system uses musl (Alpine). ` +
        "Install the Python package instead: pip install agnt-cli",
    );
  }
  let packageJson;
  try {
    packageJson = require.resolve(`${packageName}/package.json`);
  } catch {
    fail(
      "platform_package_missing",
      `${packageName} is not installed, so there is no agnt binary for ${platform}. ` +
        "Reinstall without --no-optional / --omit=optional: npm install -g agnt",
    );
  }
  const exe = process.platform === "win32" ? "agnt.exe" : "agnt";
  const binary = path.join(path.dirname(packageJson), "bin", exe);
  if (!fs.existsSync(binary)) {
    fail("platform_package_broken", `${packageName} has no ${exe} at ${binary}; reinstall agnt`);
  }
  return binary;
}

function main() {
  const child = spawn(binaryPath(), process.argv.slice(2), { stdio: "inherit" });
  const forwarders = new Map();
  for (const signal of FORWARDED_SIGNALS) {
    const forward = () => {
      // The child may already be gone; its exit handler below ends this process.
      try {
        child.kill(signal);
      } catch {}
    };
    try {
      process.on(signal, forward);
      forwarders.set(signal, forward);
    } catch {
      // SIGBREAK exists on Windows only, SIGQUIT/SIGUSR2 on POSIX only.
    }
  }
  child.on("error", (error) => {
    fail("binary_not_started", `could not run ${child.spawnfile}: ${error.message}`);
  });
  child.on("exit", (code, signal) => {
    for (const [name, forward] of forwarders) process.removeListener(name, forward);
    if (signal) {
      // Die of the same signal, so our parent sees what the binary's parent would have.
      process.kill(process.pid, signal);
      // Reached only where the signal does not end this process (e.g. Windows).
      setImmediate(() => process.exit(128 + (os.constants.signals[signal] || 0)));
      return;
    }
    process.exit(code === null ? EXIT_GENERAL : code);
  });
}

main();
