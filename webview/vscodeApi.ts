/** The host bridge: the only way the page talks to the extension (typed by src/shared/reportMessages). */
import type { PersistedViewState, ViewMessage } from '../src/shared/reportMessages';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface Host {
  post(message: ViewMessage): void;
  loadState(): Partial<PersistedViewState> | undefined;
  saveState(state: PersistedViewState): void;
}

export function connectToHost(): Host {
  // acquireVsCodeApi may be called only once per page.
  const api = acquireVsCodeApi();
  return {
    post: (message) => api.postMessage(message),
    loadState: () => (api.getState() as Partial<PersistedViewState> | undefined) ?? undefined,
    saveState: (state) => api.setState(state),
  };
}
