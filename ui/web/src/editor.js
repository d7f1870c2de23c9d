// The PromQL editor: CodeMirror 6 with codemirror-promql (highlighting, client-side lint at the
// error's position, autocomplete of functions, metric names, label names and values fed by
// /api/v1/labels, /api/v1/label/<name>/values and /api/v1/series through authFetch).

import { EditorView, keymap, placeholder, lineNumbers } from "@codemirror/view";
import { EditorState, Prec } from "@codemirror/state";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { autocompletion, closeBrackets, completionKeymap } from "@codemirror/autocomplete";
import { syntaxHighlighting, defaultHighlightStyle, bracketMatching } from "@codemirror/language";
import { lintKeymap, setDiagnostics } from "@codemirror/lint";
import { PromQLExtension } from "@prometheus-io/codemirror-promql";
import { authFetch } from "./api.js";

/** Creates the editor in `parent`; Enter runs `onRun`, Shift+Enter is a new line. */
export function createEditor(parent, doc, onRun) {
  const promql = new PromQLExtension()
    .activateCompletion(true)
    .activateLinter(true)
    .setComplete({ remote: { url: "", fetchFn: authFetch, cache: { initialMetricList: [] } } });
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        Prec.highest(
          keymap.of([
            {
              key: "Enter",
              run: () => {
                onRun();
                return true;
              },
            },
          ]),
        ),
        lineNumbers(),
        history(),
        closeBrackets(),
        bracketMatching(),
        autocompletion(),
        syntaxHighlighting(defaultHighlightStyle),
        keymap.of([...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap]),
        placeholder("Expression (press Enter to run, Shift+Enter for a new line)"),
        promql.asExtension(),
        EditorView.lineWrapping,
      ],
    }),
  });
  return {
    view,
    get value() {
      return view.state.doc.toString();
    },
    set value(v) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: v } });
    },
    /** Underlines [from, to) with the server's message (positions from "1:5: parse error"). */
    markError(message) {
      const doc = view.state.doc;
      const pos = errorPosition(message, doc.toString());
      if (!pos) return;
      view.dispatch(
        setDiagnostics(view.state, [
          { from: pos.from, to: Math.min(pos.to, doc.length), severity: "error", message },
        ]),
      );
    },
  };
}

/** "1:5: ..." (line:column, Prometheus' form) or "at position 4"/"position 4" -> a range. */
export function errorPosition(message, text) {
  let m = /\b(\d+):(\d+):/.exec(message);
  let offset = null;
  if (m) {
    const lines = text.split("\n");
    const line = Number(m[1]) - 1;
    if (line >= 0 && line < lines.length) {
      offset = lines.slice(0, line).reduce((a, l) => a + l.length + 1, 0) + Number(m[2]) - 1;
    }
  } else if ((m = /position (\d+)/.exec(message))) {
    offset = Number(m[1]);
  } else if ((m = /\.\.(\d+)\b/.exec(message))) {
    offset = Number(m[1]);
  }
  if (offset === null || offset < 0 || offset > text.length) return null;
  const end = Math.min(text.length, offset + Math.max(1, (/^[\w:.]+/.exec(text.slice(offset)) || [""])[0].length));
  return { from: Math.min(offset, Math.max(0, text.length - 1)), to: Math.max(end, offset + 1) };
}
