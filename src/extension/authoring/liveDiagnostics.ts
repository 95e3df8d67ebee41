import * as vscode from 'vscode';
import { invalidateSemanticCache, validateConfigText } from '../../engine/authoring/index';
import { isConfigDocument } from '../configDocument';
import { toVsDiagnostic } from './convert';
import { ReferenceWatcher } from './referenceWatcher';

/** Validates open config documents as they change (debounced) and when the files they name change. */
export class LiveDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('sae-diff');
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly watcher = new ReferenceWatcher((changed) => this.onReferencedFileChanged(changed));

  /** Validates now, or after the configured typing delay. */
  schedule(doc: vscode.TextDocument, immediately = false): void {
    const key = doc.uri.toString();
    clearTimeout(this.timers.get(key));
    if (!isConfigDocument(doc)) {
      this.clear(doc);
      return;
    }
    const delay = immediately ? 0 : vscode.workspace.getConfiguration('saeDiff').get<number>('validation.debounceMs', 300);
    this.timers.set(
      key,
      setTimeout(() => this.validate(doc), delay),
    );
  }

  private validate(doc: vscode.TextDocument): void {
    const key = doc.uri.toString();
    this.timers.delete(key);
    if (doc.isClosed) return;
    // An unsaved (untitled) document has no folder to resolve relative paths against: schema checks only.
    const result = validateConfigText(doc.getText(), doc.uri.fsPath, { semantic: doc.uri.scheme === 'file' });
    this.collection.set(doc.uri, result.diagnostics.map(toVsDiagnostic));
    this.watcher.setPaths(key, result.referencedPaths);
  }

  clear(doc: vscode.TextDocument): void {
    const key = doc.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.collection.delete(doc.uri);
    this.watcher.forget(key);
  }

  private onReferencedFileChanged(changed: string): void {
    invalidateSemanticCache(changed);
    for (const doc of vscode.workspace.textDocuments) if (isConfigDocument(doc)) this.schedule(doc);
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.collection.dispose();
    this.watcher.dispose();
  }
}
