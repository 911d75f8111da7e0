// `/console/`: the head of the log, events and commands per second as a live chart,
// subscribers, reactors and projections with their lag and parked events.
import type { ProjectionsStatus, ReactorsStatus, ServerStatus } from "@gesta/client";
import { h, fill, num, problem, time, table } from "../dom.ts";
import { href } from "../router.ts";
import type { Ctx } from "../session.ts";

/** Seconds of history the chart shows. */
const WINDOW = 60;

interface Sample {
  at: number;
  head: number;
  commands?: number;
}

export async function overview(ctx: Ctx, main: HTMLElement): Promise<void> {
  const headValue = h("div", { class: "value", id: "head" }, "–");
  const eventsRate = h("div", { class: "value", id: "events-rate" }, "–");
  const commandsRate = h("div", { class: "value", id: "commands-rate" }, "–");
  const subscribers = h("div", { class: "value", id: "subscribers" }, "–");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${WINDOW * 10} 160`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Events and commands per second, last minute");
  const peak = h("span", { class: "muted" });
  const backend = h("span", { class: "muted" });
  const workers = h("div", { id: "workers" });
  const failure = h("div");
  fill(
    main,
    h("h1", {}, "Overview ", backend),
    h(
      "div",
      { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "label" }, "Head position"), headValue),
      h("div", { class: "card" }, h("div", { class: "label" }, "Events / s"), eventsRate),
      ctx.admin ? h("div", { class: "card" }, h("div", { class: "label" }, "Commands / s"), commandsRate) : null,
      ctx.admin ? h("div", { class: "card" }, h("div", { class: "label" }, "Subscribers"), subscribers) : null,
    ),
    h(
      "div",
      { class: "chart" },
      h("div", { class: "legend" }, h("span", {}, h("span", { class: "swatch events" }), "events/s"), ctx.admin ? h("span", {}, h("span", { class: "swatch commands" }), "commands/s") : null, peak),
      svg,
    ),
    failure,
    workers,
  );

  const samples: Sample[] = [];
  const draw = () => {
    const rates = (pick: (s: Sample) => number | undefined) => {
      const out: number[] = [];
      for (let i = 1; i < samples.length; i++) {
        const a = samples[i - 1] as Sample;
        const b = samples[i] as Sample;
        const x = pick(a);
        const y = pick(b);
        out.push(x === undefined || y === undefined ? 0 : Math.max(0, (y - x) / ((b.at - a.at) / 1000)));
      }
      return out;
    };
    const ev = rates((s) => s.head);
    const cm = rates((s) => s.commands);
    const top = Math.max(1, ...ev, ...cm);
    const line = (values: number[], cls: string) => {
      const el = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      const offset = WINDOW - values.length;
      el.setAttribute("points", values.map((v, i) => `${(offset + i) * 10},${155 - (v / top) * 145}`).join(" "));
      el.setAttribute("class", cls);
      el.setAttribute("vector-effect", "non-scaling-stroke");
      return el;
    };
    const grid = document.createElementNS("http://www.w3.org/2000/svg", "line");
    grid.setAttribute("x1", "0");
    grid.setAttribute("x2", String(WINDOW * 10));
    grid.setAttribute("y1", "155");
    grid.setAttribute("y2", "155");
    grid.setAttribute("class", "grid");
    svg.replaceChildren(grid, line(ev, "events"), ...(ctx.admin ? [line(cm, "commands")] : []));
    peak.textContent = `peak ${Math.round(top).toLocaleString()}/s`;
    const last = (v: number[]) => (v.length ? Math.round(v[v.length - 1] as number).toLocaleString() : "–");
    eventsRate.textContent = last(ev);
    commandsRate.textContent = last(cm);
  };

  const tick = async () => {
    try {
      let sample: Sample;
      if (ctx.admin) {
        const status: ServerStatus = await ctx.client.status();
        sample = { at: performance.now(), head: status.head, commands: status.commands_committed };
        subscribers.textContent = num(status.subscribers);
        backend.textContent = status.backend;
      } else {
        const health = await ctx.client.health();
        sample = { at: performance.now(), head: health.last_position };
        backend.textContent = health.backend;
      }
      if (!ctx.live()) return;
      headValue.textContent = num(sample.head);
      samples.push(sample);
      while (samples.length > WINDOW + 1) samples.shift();
      draw();
      failure.replaceChildren();
    } catch (error) {
      if (ctx.live()) fill(failure, problem(error));
    }
  };
  const refreshWorkers = async () => {
    if (!ctx.admin) return;
    try {
      const [r, p]: [ReactorsStatus, ProjectionsStatus] = await Promise.all([ctx.client.reactors({ parkedLimit: 0 }), ctx.client.projections()]);
      if (!ctx.live()) return;
      fill(
        workers,
        h("h2", {}, "Reactors"),
        table(
          r.reactors.map((x) => ({ name: x.name, position: x.position, lag: x.lag, parked: x.parked, running: x.running ? "yes" : "no", updated: x.updated_at })),
          ["name", "position", "lag", "parked", "running", "updated"],
          (column, row) =>
            column === "parked" && Number(row.parked) > 0
              ? h("a", { href: href("/reactors") }, num(Number(row.parked)))
              : column === "updated"
                ? time(row.updated as string | null)
                : undefined,
        ),
        h("h2", {}, "Projections"),
        p.projections.length === 0
          ? h("p", { class: "muted" }, "No async projections.")
          : table(
              p.projections.map((x) => ({ name: x.name, checkpoint: x.checkpoint, lag: x.lag, running: x.running ? "yes" : "no", error: x.error ?? "", updated: x.updated_at })),
              ["name", "checkpoint", "lag", "running", "error", "updated"],
              (column, row) => (column === "updated" ? time(row.updated as string | null) : undefined),
            ),
      );
    } catch (error) {
      if (ctx.live()) fill(workers, problem(error));
    }
  };
  await tick();
  await refreshWorkers();
  const timer = setInterval(() => void tick(), 1000);
  const slow = setInterval(() => void refreshWorkers(), 5000);
  ctx.onLeave(() => {
    clearInterval(timer);
    clearInterval(slow);
  });
}
