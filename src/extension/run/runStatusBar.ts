import * as vscode from 'vscode';

/** The status bar item: running state and the execution provider in use. Click: the log. */
export class RunStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('saeDiff.run', vscode.StatusBarAlignment.Left, 10);
  /** The provider of the current (or last) run, as chosen by the worker. */
  private provider: string | undefined;

  constructor(private readonly providerSetting: () => string) {
    this.item.name = 'SAE Diff';
    this.item.command = 'saeDiff.showLog';
    this.idle();
    this.item.show();
  }

  /** Between runs: the setting, with what `auto` picked last time. */
  idle(): void {
    const setting = this.providerSetting();
    const shown = setting === 'auto' && this.provider ? `${this.provider} (auto)` : setting;
    this.set('$(beaker)', shown, `Execution provider: ${shown}. Click to show the log.`);
  }

  startRun(): void {
    this.provider = undefined;
    this.running('starting');
  }

  setProvider(provider: string): void {
    this.provider = provider;
  }

  running(detail: string): void {
    const on = this.provider ? ` · ${this.provider}` : '';
    this.set(
      '$(sync~spin)',
      `${detail}${on}`,
      `A diagnostic is running${this.provider ? ` on ${this.provider}` : ''}. Click to show the log.`,
    );
  }

  failed(): void {
    this.idle();
    this.item.text = this.item.text.replace('$(beaker)', '$(error)');
    this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
  }

  dispose(): void {
    this.item.dispose();
  }

  private set(icon: string, text: string, tooltip: string): void {
    this.item.text = `${icon} SAE Diff: ${text}`;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = undefined;
  }
}
