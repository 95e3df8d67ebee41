/** The custom editor's view type (package.json contributes.customEditors), shared by the panel kinds. */
export const REPORT_VIEW_TYPE = 'saeDiff.report';
