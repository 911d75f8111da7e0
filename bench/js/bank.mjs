// The bank of examples/bank, written as a JavaScript app for `gesta-bench --only j`:
// the same commands, checks, events and streams as the Rust one, so that a Transfer
// here and a Transfer there do the same work (two balance reads, two events, two
// balance updates), one through QuickJS and one in compiled Rust.
const MAX_AMOUNT = 1_000_000_000_000;
const id = { type: "string", minLength: 1, maxLength: 64 };
const amount = { type: "integer", minimum: 1, maximum: MAX_AMOUNT };

const account = (get, reject, accountId) => {
  const found = get("accounts", accountId);
  if (!found) reject(`account ${JSON.stringify(accountId)} does not exist`);
  return found;
};

export default {
  name: "jsbank",
  collections: {
    accounts: { key: "id", columns: { id: "text", owner: "text", balance: "integer" } },
  },
  commands: {
    OpenAccount: {
      schema: { type: "object", required: ["account_id", "owner"], additionalProperties: false, properties: { account_id: id, owner: { type: "string", minLength: 1, maxLength: 200 } } },
      handle(cmd, { get, reject }) {
        if (get("accounts", cmd.account_id)) reject(`account ${JSON.stringify(cmd.account_id)} already exists`);
        return [{ stream: `account-${cmd.account_id}`, type: "AccountOpened", data: cmd, expected_version: "no_stream" }];
      },
    },
    Deposit: {
      schema: { type: "object", required: ["account_id", "amount"], additionalProperties: false, properties: { account_id: id, amount } },
      handle(cmd, { get, reject }) {
        account(get, reject, cmd.account_id);
        return [{ stream: `account-${cmd.account_id}`, type: "Deposited", data: cmd }];
      },
    },
    Transfer: {
      schema: { type: "object", required: ["from", "to", "amount"], additionalProperties: false, properties: { from: id, to: id, amount } },
      handle(cmd, { get, reject }) {
        if (cmd.from === cmd.to) reject("to: must differ from `from`");
        const from = account(get, reject, cmd.from);
        account(get, reject, cmd.to);
        if (from.balance < cmd.amount) reject(`insufficient funds: account ${JSON.stringify(cmd.from)} has ${from.balance} cents, ${cmd.amount} requested`);
        return [
          { stream: `account-${cmd.from}`, type: "TransferSent", data: cmd },
          { stream: `account-${cmd.to}`, type: "TransferReceived", data: cmd },
        ];
      },
    },
  },
  reducers: {
    accounts(accounts, event) {
      const change = (accountId, delta) => accounts.update(accountId, (a) => ({ ...a, balance: a.balance + delta }));
      switch (event.type) {
        case "AccountOpened": return accounts.insert({ id: event.data.account_id, owner: event.data.owner, balance: 0 });
        case "Deposited": return change(event.data.account_id, event.data.amount);
        case "TransferSent": return change(event.data.from, -event.data.amount);
        case "TransferReceived": return change(event.data.to, event.data.amount);
        default: return accounts;
      }
    },
  },
};
