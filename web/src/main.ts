// A browser client of relreg's ReleaseCatalog over gRPC-Web: asks GetLatestRelease for an app
// version, then GetReleaseManifest for the release it is told to run, and renders both.
//
// Query parameters: server (relreg's base URL; default: this page's origin), repo, channel,
// app (the app version), platform (optional).

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

import { ReleaseCatalog } from "./gen/relreg/v1/catalog_pb";
import type { ReleaseManifest } from "./gen/relreg/v1/resources_pb";

type State = "loading" | "done" | "up-to-date" | "app-update-required" | "error";

const params = new URLSearchParams(window.location.search);
const server = params.get("server") ?? window.location.origin;
const repo = params.get("repo") ?? "";
const channel = params.get("channel") ?? "stable";
const appVersion = params.get("app") ?? "";
const platform = params.get("platform") ?? "";

const statusEl = document.getElementById("status") as HTMLElement;
const resultEl = document.getElementById("result") as HTMLElement;

function setState(state: State, message: string): void {
  document.body.dataset.state = state;
  statusEl.textContent = message;
}

/** Creates an element with text content (never HTML) and optional children. */
function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const child of children) node.appendChild(child);
  return node;
}

function row(cells: (string | Node)[], header = false): HTMLTableRowElement {
  const tr = el("tr");
  for (const cell of cells) {
    const td = el(header ? "th" : "td");
    if (typeof cell === "string") td.textContent = cell;
    else td.appendChild(cell);
    tr.appendChild(td);
  }
  return tr;
}

function code(text: string): HTMLElement {
  return el("code", text);
}

function renderManifest(m: ReleaseManifest): void {
  const facts = el("dl");
  const fact = (name: string, value: string) => {
    facts.appendChild(el("dt", name));
    facts.appendChild(el("dd", value));
  };
  fact("Release", m.releaseId);
  fact("Repo", m.repo);
  fact("Channel", m.channel);
  fact("Version", m.version);
  fact("Sequence", m.sequence.toString());
  fact(
    "App versions",
    `${m.minAppVersion || "any"} … ${m.maxAppVersion || "any"}` +
      (m.platforms.length ? ` on ${m.platforms.join(", ")}` : ""),
  );
  fact("Mandatory", m.mandatory ? "yes" : "no");
  if (m.notes) fact("Notes", m.notes);
  resultEl.appendChild(el("h2", `Release ${m.version}`));
  resultEl.appendChild(facts);

  for (const artifact of m.artifacts) {
    resultEl.appendChild(
      el("h3", `${artifact.role}: ${artifact.package} ${artifact.version} (${artifact.kind})`),
    );
    const table = el("table");
    table.appendChild(row(["Path", "Size", "sha256", "Download"], true));
    for (const file of artifact.files) {
      const link = el("a", "download");
      link.href = file.url;
      table.appendChild(
        row([code(file.path), `${file.size} B`, code(file.sha256), link]),
      );
    }
    resultEl.appendChild(table);
  }
}

async function main(): Promise<void> {
  if (!repo || !appVersion) {
    setState("error", "Add ?repo=…&channel=…&app=… (and server=… for another origin).");
    return;
  }
  const transport = createGrpcWebTransport({ baseUrl: server, useBinaryFormat: true });
  const catalog = createClient(ReleaseCatalog, transport);
  setState("loading", `Asking ${server} for the latest ${channel} release of ${repo}…`);
  const latest = await catalog.getLatestRelease({ repo, channel, appVersion, platform });
  switch (latest.decision.case) {
    case "update": {
      const release = latest.decision.value.release;
      if (!release) throw new Error("update without a release");
      const { manifest } = await catalog.getReleaseManifest({ releaseId: release.id });
      if (!manifest) throw new Error("empty manifest answer");
      renderManifest(manifest);
      setState("done", `Update to ${release.version} (sequence ${release.sequence})`);
      return;
    }
    case "upToDate":
      setState("up-to-date", `Up to date (${latest.decision.value.release?.version ?? "?"})`);
      return;
    case "appUpdateRequired":
      setState(
        "app-update-required",
        `App update required: ${latest.decision.value.minAppVersion} or newer`,
      );
      return;
    default:
      throw new Error("no decision in the answer");
  }
}

main().catch((e: unknown) => {
  const message = e instanceof ConnectError ? `${Code[e.code]}: ${e.rawMessage}` : String(e);
  setState("error", `Error: ${message}`);
});
