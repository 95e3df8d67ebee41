/** Registers the webview-ui-toolkit components the panel uses (only these, to keep the bundle small). */
import {
  provideVSCodeDesignSystem,
  vsCodeButton,
  vsCodeCheckbox,
  vsCodeDivider,
  vsCodeDropdown,
  vsCodeOption,
  vsCodeProgressRing,
  vsCodeTextField,
} from '@vscode/webview-ui-toolkit';

export function registerToolkit(): void {
  provideVSCodeDesignSystem().register(
    vsCodeButton(),
    vsCodeCheckbox(),
    vsCodeDivider(),
    vsCodeDropdown(),
    vsCodeOption(),
    vsCodeProgressRing(),
    vsCodeTextField(),
  );
}

/** A toolkit dropdown with plain options; `onChange` gets the chosen value. */
export function dropdown(
  label: string,
  options: { value: string; text: string }[],
  selected: string,
  onChange: (value: string) => void,
): HTMLElement {
  const select = document.createElement('vscode-dropdown') as HTMLElement & { value: string };
  select.setAttribute('aria-label', label);
  for (const option of options) {
    const item = document.createElement('vscode-option') as HTMLElement & { value: string };
    item.setAttribute('value', option.value);
    item.textContent = option.text;
    if (option.value === selected) item.setAttribute('selected', '');
    select.appendChild(item);
  }
  select.addEventListener('change', () => onChange(select.value));
  return select;
}
