// Bundles the report webview (webview/) into media/webview/. Filled in by the report panel work.
