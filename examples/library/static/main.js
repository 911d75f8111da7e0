// The library's page: commands through @gesta/client, and a Redux store that `sync`
// keeps equal to the server's collections, through the app module's own reducers.
import { legacy_createStore as createStore } from "./redux.mjs";
import { GestaClient, GestaProblem, gestaReducer, sync } from "./client/index.js";
import app from "./app.mjs";

const client = new GestaClient(location.origin);
const store = createStore(gestaReducer(app));
const status = document.getElementById("status");
const handle = sync(client, store, app, {
  onError: (error) => {
    status.textContent = `reconnecting (${error.message ?? error})`;
  },
});

const integers = new Set(["copies"]);
for (const form of document.querySelectorAll("form[data-command]")) {
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const data = {};
    for (const [name, value] of new FormData(form)) data[name] = integers.has(name) ? Number(value) : value;
    const outcome = document.getElementById("outcome");
    try {
      const done = await client.dispatch(form.dataset.command, data);
      outcome.className = "";
      outcome.textContent = `${form.dataset.command}: committed at position ${done.position}`;
      form.reset();
    } catch (error) {
      outcome.className = "problem";
      outcome.textContent = error instanceof GestaProblem ? `${error.status} ${error.title}: ${error.detail}` : String(error);
    }
  });
}

function render() {
  const state = store.getState();
  document.getElementById("position").textContent = String(state.position);
  status.textContent = "live";
  fill("books", Object.values(state.collections.books), ["id", "title", "copies", "on_loan"]);
  fill("loans", Object.values(state.collections.loans), ["id", "book_id", "reader"]);
}

function fill(id, rows, columns) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(
    ...rows
      .sort((a, b) => String(a.id).localeCompare(String(b.id)))
      .map((row) => {
        const tr = document.createElement("tr");
        tr.dataset.key = String(row.id);
        for (const column of columns) {
          const td = document.createElement("td");
          td.textContent = row[column] === null ? "" : String(row[column]);
          tr.append(td);
        }
        return tr;
      }),
  );
}

let scheduled = false;
store.subscribe(() => {
  if (scheduled) return;
  scheduled = true;
  setTimeout(() => {
    scheduled = false;
    render();
  }, 16);
});

// For the end-to-end test, and for poking at it from the browser's console.
window.gesta = { client, store, handle };
