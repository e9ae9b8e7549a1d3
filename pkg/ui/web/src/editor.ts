// The expression editor: CodeMirror 6 with codemirror-promql for PromQL
// highlighting, linting and completion of functions, metric names, label
// names and values (the latter read from this server's API).

import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, insertNewlineAndIndent } from '@codemirror/commands';
import { bracketMatching, HighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { EditorState, Prec } from '@codemirror/state';
import { EditorView, highlightSpecialChars, keymap, placeholder } from '@codemirror/view';
import { tags } from '@lezer/highlight';
import { PromQLExtension } from '@prometheus-io/codemirror-promql';
import { serverBase } from './api';

// One PromQL extension for every panel, so they share its metric-name cache.
let promql: PromQLExtension | undefined;

function promqlExtension(): PromQLExtension {
  promql ??= new PromQLExtension().setComplete({
    remote: { url: serverBase(), httpMethod: 'POST', cache: { maxAge: 60_000 } },
  });
  return promql;
}

const promqlHighlight = HighlightStyle.define([
  { tag: tags.name, color: '#000' },
  { tag: tags.number, color: '#09885a' },
  { tag: tags.string, color: '#a31515' },
  { tag: tags.keyword, color: '#008080', fontWeight: 'bold' },
  { tag: tags.function(tags.variableName), color: '#008080', fontWeight: 'bold' },
  { tag: tags.labelName, color: '#800000' },
  { tag: tags.operator, color: '#af00db' },
  { tag: [tags.modifier, tags.unit], color: '#2e64b8' },
  { tag: tags.lineComment, color: '#888', fontStyle: 'italic' },
  { tag: tags.invalid, color: 'red' },
]);

export interface Editor {
  view: EditorView;
  value(): string;
  set(text: string): void;
}

// createEditor mounts an editor into parent. Enter runs the query unless
// the completion list is open (then it picks the item); Shift+Enter inserts
// a newline.
export function createEditor(
  parent: HTMLElement,
  initial: string,
  onRun: () => void,
  onChange: (text: string) => void,
): Editor {
  const runKeys = Prec.high(
    keymap.of([
      { key: 'Enter', run: () => (onRun(), true) },
      { key: 'Shift-Enter', run: insertNewlineAndIndent },
    ]),
  );
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: initial,
      extensions: [
        highlightSpecialChars(),
        history(),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        autocompletion(),
        syntaxHighlighting(promqlHighlight),
        placeholder('Expression (press Shift+Enter for newlines)'),
        // The completion keymap outranks ours so Enter accepts a suggestion.
        Prec.highest(keymap.of(completionKeymap)),
        runKeys,
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap]),
        EditorView.lineWrapping,
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange(u.state.doc.toString());
        }),
        promqlExtension().asExtension(),
      ],
    }),
  });
  return {
    view,
    value: () => view.state.doc.toString(),
    set: (text: string) =>
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
  };
}
