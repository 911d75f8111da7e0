/** The body of an RFC 9457 problem answer, as Gesta sends it. */
export interface ProblemBody {
  /** A URI reference naming the kind, e.g. `/problems/rejected`. */
  type: string;
  /** A short summary of the kind. */
  title: string;
  /** The HTTP status. */
  status: number;
  /** What happened this time. */
  detail: string;
  /** The input field at fault, when one is. */
  field?: string;
  /** Extension members (stream, expected and actual version, ...). */
  [extension: string]: unknown;
}

/**
 * A problem answer from the server (4xx or 5xx), thrown by the client's calls.
 * `status`, `title` and `detail` are the problem's own; `body` is all of it.
 */
export class GestaProblem extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The problem's title. */
  readonly title: string;
  /** The problem's detail, e.g. the handler's own message for a 422. */
  readonly detail: string;
  /** The input field at fault, when the server named one. */
  readonly field: string | undefined;
  /** The whole problem body. */
  readonly body: ProblemBody;

  constructor(body: ProblemBody) {
    super(`${body.status} ${body.title}: ${body.detail}`);
    this.name = "GestaProblem";
    this.status = body.status;
    this.title = body.title;
    this.detail = body.detail;
    this.field = typeof body.field === "string" ? body.field : undefined;
    this.body = body;
  }
}

/**
 * The problem in a failed `response`: its problem+json body, or one made up from the
 * status and text when the answer is not a problem (a proxy's error page, say).
 */
export async function problemFrom(response: Response): Promise<GestaProblem> {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text) as Partial<ProblemBody>;
    if (body && typeof body === "object" && typeof body.title === "string") {
      return new GestaProblem({
        ...body,
        type: typeof body.type === "string" ? body.type : "about:blank",
        title: body.title,
        status: typeof body.status === "number" ? body.status : response.status,
        detail: typeof body.detail === "string" ? body.detail : "",
      });
    }
  } catch {
    // not JSON: fall through
  }
  return new GestaProblem({
    type: "about:blank",
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    detail: text.slice(0, 500),
  });
}
