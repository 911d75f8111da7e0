// The library: a Gesta app in one JavaScript module, run by `gesta serve --app app.mjs`.
// The reducers run in the server (over SQL tables, in the command's transaction) and in
// the browser (over plain state, through @gesta/client's gestaReducer).
export default {
  name: "library",
  // Read-model tables, declared once; Gesta creates them on every backend.
  collections: {
    books: { key: "id", columns: { id: "text", title: "text", copies: "integer", on_loan: "integer" } },
    loans: { key: "id", columns: { id: "text", book_id: "text", reader: "text" } },
  },
  commands: {
    AddBook: {
      schema: {
        type: "object", required: ["id", "title", "copies"], additionalProperties: false,
        properties: {
          id: { type: "string", minLength: 1, maxLength: 64 },
          title: { type: "string", maxLength: 200 },
          copies: { type: "integer", minimum: 1, maximum: 1000 },
        },
      },
      // Reads the read model inside the command's transaction; returns events.
      handle(cmd, { get, reject }) {
        if (get("books", cmd.id)) reject(`book ${cmd.id} already exists`);
        return [{ stream: `book-${cmd.id}`, type: "BookAdded", data: cmd }];
      },
    },
    LendBook: {
      schema: {
        type: "object", required: ["loan_id", "book_id", "reader"], additionalProperties: false,
        properties: {
          loan_id: { type: "string", minLength: 1, maxLength: 64 },
          book_id: { type: "string", minLength: 1, maxLength: 64 },
          reader: { type: "string", minLength: 1, maxLength: 200 },
        },
      },
      handle(cmd, { get, reject }) {
        const book = get("books", cmd.book_id);
        if (!book) reject(`no book ${cmd.book_id}`);
        if (book.on_loan >= book.copies) reject(`every copy of ${cmd.book_id} is on loan`);
        if (get("loans", cmd.loan_id)) reject(`loan ${cmd.loan_id} already exists`);
        return [{ stream: `book-${cmd.book_id}`, type: "BookLent", data: { id: cmd.book_id, loan_id: cmd.loan_id, reader: cmd.reader } }];
      },
    },
    ReturnBook: {
      schema: {
        type: "object", required: ["loan_id"], additionalProperties: false,
        properties: { loan_id: { type: "string", minLength: 1, maxLength: 64 } },
      },
      handle(cmd, { get, reject }) {
        const loan = get("loans", cmd.loan_id);
        if (!loan) reject(`no loan ${cmd.loan_id}`);
        return [{ stream: `book-${loan.book_id}`, type: "BookReturned", data: { id: loan.book_id, loan_id: cmd.loan_id } }];
      },
    },
  },
  // Redux-style: (collection, event) => collection.
  reducers: {
    books(books, event) {
      switch (event.type) {
        case "BookAdded": return books.insert({ ...event.data, on_loan: 0 });
        case "BookLent": return books.update(event.data.id, (b) => ({ ...b, on_loan: b.on_loan + 1 }));
        case "BookReturned": return books.update(event.data.id, (b) => ({ ...b, on_loan: b.on_loan - 1 }));
        default: return books;
      }
    },
    loans(loans, event) {
      switch (event.type) {
        case "BookLent": return loans.insert({ id: event.data.loan_id, book_id: event.data.id, reader: event.data.reader });
        case "BookReturned": return loans.remove(event.data.loan_id);
        default: return loans;
      }
    },
  },
};
