import * as vscode from 'vscode';
import type { ConfigCompletion, ConfigDiagnostic, Range } from '../../engine/authoring/index';

/** Engine positions are 0-based line/character like VS Code's: the mapping is one-to-one. */
export function toVsRange(r: Range): vscode.Range {
  return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
}

export function fromVsRange(r: vscode.Range): Range {
  return { start: { line: r.start.line, character: r.start.character }, end: { line: r.end.line, character: r.end.character } };
}

const SEVERITY: Record<ConfigDiagnostic['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  information: vscode.DiagnosticSeverity.Information,
};

export function toVsDiagnostic(d: ConfigDiagnostic): vscode.Diagnostic {
  const out = new vscode.Diagnostic(toVsRange(d.range), d.message, SEVERITY[d.severity]);
  out.source = 'sae-diff';
  out.code = d.code;
  return out;
}

const COMPLETION_KIND: Record<ConfigCompletion['kind'], vscode.CompletionItemKind> = {
  key: vscode.CompletionItemKind.Property,
  enum: vscode.CompletionItemKind.EnumMember,
  boolean: vscode.CompletionItemKind.Value,
  layer: vscode.CompletionItemKind.Constant,
  folder: vscode.CompletionItemKind.Folder,
  file: vscode.CompletionItemKind.File,
  template: vscode.CompletionItemKind.Snippet,
};

export function toVsCompletion(c: ConfigCompletion, index: number): vscode.CompletionItem {
  const item = new vscode.CompletionItem(c.label, COMPLETION_KIND[c.kind]);
  item.insertText = c.insertText;
  item.range = toVsRange(c.range);
  item.detail = c.detail;
  if (c.documentation) item.documentation = new vscode.MarkdownString(c.documentation);
  item.sortText = String(index).padStart(4, '0'); // keep the engine's order (schema order for keys)
  if (c.retrigger) item.command = { command: 'editor.action.triggerSuggest', title: 'Complete path' };
  return item;
}
