// dockerode and Testcontainers for Node against rdind's endpoint, configured
// only by DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH as a CI job is.
// Run by tests/e2e/clients.sh with NODE_PATH pointing at the pinned packages
// of tests/node/package.json; argv: IMAGE (busybox in the daemon), and a
// file to write the id of a container left running for Ryuk to reap.
"use strict";
const fs = require("fs");
const http = require("http");
const Docker = require("dockerode");
const { GenericContainer, Wait } = require("testcontainers");

const image = process.argv[2];
const leftFile = process.argv[3];
let n = 0;
const ok = (what) => console.log(`ok ${++n} - ${what}`);
const check = (cond, what) => {
  if (!cond) {
    console.log(`FAIL: ${what}`);
    process.exit(1);
  }
  ok(what);
};

function get(port, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, timeout: 10000 }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
}

async function dockerode() {
  const d = new Docker(); // reads the DOCKER_* variables
  check((await d.ping()).toString() === "OK", "dockerode: ping");
  const v = await d.version();
  check(!!v.ApiVersion, `dockerode: version (API ${v.ApiVersion})`);
  const c = await d.createContainer({ Image: image, Cmd: ["sh", "-c", "echo hello-node; sleep 30"] });
  await c.start();
  const ex = await c.exec({ Cmd: ["sh", "-c", "echo exec-$((6*7))"], AttachStdout: true, AttachStderr: true });
  const out = await new Promise((resolve, reject) => {
    ex.start({}, (err, stream) => {
      if (err) return reject(err);
      let buf = Buffer.alloc(0);
      stream.on("data", (x) => (buf = Buffer.concat([buf, x])));
      stream.on("end", () => resolve(buf));
    });
  });
  // Multiplexed stream: 8-byte frame headers, then the payload.
  check(out.slice(8).toString() === "exec-42\n", "dockerode: exec (hijacked stream)");
  const logs = await c.logs({ stdout: true, stderr: true });
  check(logs.toString().includes("hello-node"), "dockerode: logs");
  const list = await d.listContainers();
  check(list.some((x) => x.Id === c.id), "dockerode: listContainers");
  await c.remove({ force: true });
  check(!(await d.listContainers({ all: true })).some((x) => x.Id === c.id), "dockerode: remove");
}

async function testcontainers() {
  const started = await new GenericContainer(image)
    .withCommand(["httpd", "-f", "-p", "8080", "-h", "/www"])
    .withExposedPorts(8080)
    .withWaitStrategy(Wait.forHttp("/index.html", 8080))
    .start();
  const port = started.getMappedPort(8080);
  check(port > 0 && started.getHost() !== "", `testcontainers: getMappedPort -> ${started.getHost()}:${port}`);
  const body = await get(port, "/index.html");
  check(body.includes("hello from rdind"), "testcontainers: the mapped port answers at the job's address");
  const r = await started.exec(["sh", "-c", "echo exec-ok"]);
  check(r.exitCode === 0 && r.output.trim() === "exec-ok", "testcontainers: exec");
  await started.copyContentToContainer([{ content: "copied-in\n", target: "/tmp/in.txt" }]);
  const back = await started.exec(["cat", "/tmp/in.txt"]);
  check(back.output === "copied-in\n", "testcontainers: copyContentToContainer");
  const stream = await started.copyArchiveFromContainer("/tmp/in.txt");
  let tar = Buffer.alloc(0);
  for await (const chunk of stream) tar = Buffer.concat([tar, chunk]);
  check(tar.includes("copied-in"), "testcontainers: copyArchiveFromContainer");
  const logs = await started.logs();
  await new Promise((resolve) => {
    logs.on("data", () => {});
    logs.on("end", resolve);
    setTimeout(resolve, 500);
  });
  ok("testcontainers: logs stream");
  await started.stop();
  ok("testcontainers: stop");

  // A container this session leaves running: Ryuk must reap it once the
  // session's connection to it closes (when this process exits).
  const left = await new GenericContainer(image).withCommand(["sleep", "600"]).start();
  fs.writeFileSync(leftFile, left.getId());
  ok("testcontainers: a container left running for Ryuk");
}

(async () => {
  await dockerode();
  await testcontainers();
  console.log(`# node clients done: ${n} checks`);
  process.exit(0);
})().catch((e) => {
  console.log(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
