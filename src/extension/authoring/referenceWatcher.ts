import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';

/**
 * Watches the files and folders configs refer to (models, SAEs, prompts) and reports changes,
 * so that semantic diagnostics follow edits made outside the editor (a re-export, a new SAE).
 */
export class ReferenceWatcher implements vscode.Disposable {
  private readonly watchers = new Map<string, vscode.FileSystemWatcher>();
  private readonly pathsByDocument = new Map<string, string[]>();

  constructor(private readonly onChange: (changedPath: string) => void) {}

  /** Sets the paths one document refers to; watchers follow the union over all documents. */
  setPaths(documentKey: string, paths: string[]): void {
    this.pathsByDocument.set(documentKey, paths);
    this.sync();
  }

  forget(documentKey: string): void {
    this.pathsByDocument.delete(documentKey);
    this.sync();
  }

  private sync(): void {
    const wanted = new Set([...this.pathsByDocument.values()].flat());
    for (const [p, w] of this.watchers) {
      if (!wanted.has(p)) {
        w.dispose();
        this.watchers.delete(p);
      }
    }
    for (const p of wanted) if (!this.watchers.has(p)) this.watchers.set(p, this.watch(p));
  }

  private watch(p: string): vscode.FileSystemWatcher {
    // A folder: everything inside it. A file, or a path that does not exist yet: that name in its folder.
    const pattern = isDirectory(p)
      ? new vscode.RelativePattern(vscode.Uri.file(p), '**')
      : new vscode.RelativePattern(vscode.Uri.file(path.dirname(p)), path.basename(p));
    const w = vscode.workspace.createFileSystemWatcher(pattern);
    const fire = (uri: vscode.Uri) => this.onChange(uri.fsPath);
    w.onDidChange(fire);
    w.onDidCreate(fire);
    w.onDidDelete(fire);
    return w;
  }

  dispose(): void {
    for (const w of this.watchers.values()) w.dispose();
    this.watchers.clear();
    this.pathsByDocument.clear();
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
