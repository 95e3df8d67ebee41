import * as vscode from 'vscode';
import { completionsAt, hoverAt, quickFixesFor, validateConfigText } from '../../engine/authoring/index';
import { fromVsRange, toVsCompletion, toVsDiagnostic, toVsRange } from './convert';
import { isConfigDocument } from '../configDocument';

export const configHoverProvider: vscode.HoverProvider = {
  provideHover(doc, position) {
    if (!isConfigDocument(doc)) return undefined;
    const hover = hoverAt(doc.getText(), doc.uri.fsPath, position);
    return hover && new vscode.Hover(new vscode.MarkdownString(hover.markdown), toVsRange(hover.range));
  },
};

export const configCompletionProvider: vscode.CompletionItemProvider = {
  provideCompletionItems(doc, position) {
    if (!isConfigDocument(doc)) return undefined;
    return completionsAt(doc.getText(), doc.uri.fsPath, position).map(toVsCompletion);
  },
};

export const COMPLETION_TRIGGERS = ['/', '[', ',', '{', '"', ' '];

export const configCodeActionProvider: vscode.CodeActionProvider = {
  provideCodeActions(doc, range) {
    if (!isConfigDocument(doc)) return undefined;
    // Re-validate the current text (cached, a few ms) so the fixes' ranges match it exactly.
    const text = doc.getText();
    const wanted = fromVsRange(range);
    const diagnostics = validateConfigText(text, doc.uri.fsPath).diagnostics.filter((d) => overlaps(d.range, wanted));
    return quickFixesFor(text, diagnostics).map((fix) => {
      const action = new vscode.CodeAction(fix.title, vscode.CodeActionKind.QuickFix);
      action.diagnostics = [toVsDiagnostic(fix.diagnostic)];
      action.isPreferred = fix.preferred;
      action.edit = new vscode.WorkspaceEdit();
      for (const e of fix.edits) action.edit.replace(doc.uri, toVsRange(e.range), e.newText);
      return action;
    });
  },
};

type R = ReturnType<typeof fromVsRange>;
const before = (a: R['start'], b: R['start']) => a.line < b.line || (a.line === b.line && a.character <= b.character);
function overlaps(a: R, b: R): boolean {
  return before(a.start, b.end) && before(b.start, a.end);
}
