"""The widgets' stylesheet, scoped under ``.wb-root`` so it touches nothing else.

JupyterLab's theme variables are used where they exist so the widgets follow
a dark theme too; the fallbacks are for Voila's default light page.
"""

from __future__ import annotations

CSS = """
.wb-root {
  border: 1px solid var(--jp-border-color2, #e0e0e0);
  border-radius: 8px;
  padding: 10px 14px 12px 14px;
  background: var(--jp-layout-color0, #fff);
  box-sizing: border-box;
  width: 100%;
  gap: 6px;
}
.wb-root .wb-row { gap: 6px; align-items: center; }
.wb-root .wb-topbar { align-items: center; gap: 8px; flex-wrap: wrap; }
.wb-root .wb-title { font-weight: 600; font-size: 15px; color: var(--jp-ui-font-color0, #222); margin-right: 6px; }
.wb-root .wb-title-sub { font-weight: 400; color: var(--jp-ui-font-color2, #777); font-size: 12px; }
.wb-root .wb-columns { gap: 16px; flex-wrap: wrap; align-items: flex-start; }
.wb-root .wb-column { flex: 1 1 380px; min-width: 280px; gap: 4px; }
.wb-root .wb-section-label {
  font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: .05em;
  color: var(--jp-ui-font-color2, #777); margin: 0;
}
.wb-root .widget-textarea textarea {
  font-family: var(--jp-code-font-family, monospace); font-size: 13px; line-height: 1.4;
  border-radius: 4px; resize: vertical;
}
.wb-root .widget-html.wb-section { min-height: 0; height: auto; margin-top: 8px; margin-bottom: 0; }
.wb-root .widget-html.wb-section .widget-html-content { line-height: 1.2; height: auto; }
.wb-root .wb-param-stop > .widget-text { width: 100%; }
.wb-root .wb-param-stop input.jupyter-widget-taginput { width: calc(100% - 4px); min-width: 0; box-sizing: border-box; }
.wb-root .wb-hint, .wb-root .wb-placeholder { color: var(--jp-ui-font-color3, #999); font-size: 12px; }
.wb-root .wb-answer-text {
  white-space: pre-wrap; word-wrap: break-word; line-height: 1.5; font-size: 13.5px;
  border: 1px solid var(--jp-border-color2, #e3e3e3); border-left: 3px solid #2f6fdf; border-radius: 6px;
  background: var(--jp-layout-color1, #fafbfc); color: var(--jp-content-font-color1, #1b1b1b);
  padding: 8px 12px; min-height: 64px; max-height: 420px; overflow-y: auto;
}
.wb-root .wb-compact .wb-answer-text { min-height: 36px; max-height: 150px; font-size: 12.5px; padding: 6px 8px; }
.wb-root .wb-sample-label { font-size: 11px; color: var(--jp-ui-font-color2, #777); margin-bottom: 2px; }
.wb-root .wb-figures { color: var(--jp-ui-font-color2, #666); font-size: 12px; }
.wb-root .wb-figures .widget-html-content, .wb-root .wb-info .widget-html-content { line-height: 1.4; }
.wb-root .wb-error > .widget-html-content > div {
  color: #9b1c1c; background: #fdecee; border-left: 3px solid #c62828; border-radius: 4px;
  padding: 6px 10px; white-space: pre-wrap; line-height: 1.45; font-size: 13px;
}
.wb-root .wb-info { color: #1b5e20; font-size: 12px; }
.wb-root .wb-key { align-items: center; gap: 6px; flex-wrap: wrap; background: #fff8e1;
  border: 1px solid #f3d27a; border-radius: 6px; padding: 4px 8px; }
.wb-root .wb-key-label { font-size: 12.5px; }
.wb-root .wb-params .widget-checkbox { width: auto; }
.wb-root .wb-params .widget-checkbox label, .wb-root .wb-param-name {
  font-family: var(--jp-code-font-family, monospace); font-size: 12px;
}
.wb-root .wb-param-note-text { color: var(--jp-error-color1, #b00020); font-size: 12px; line-height: 1.3; }
.wb-root .wb-param-note { margin: 0 0 4px 0; }
.wb-root .wb-unset .widget-readout, .wb-root .wb-unset .slider-container, .wb-root .wb-unset input,
.wb-root .wb-unset select {
  opacity: .4;
}
.wb-root .wb-param-default-text { color: var(--jp-ui-font-color2, #777); font-size: 12px; font-style: italic; }
.wb-root .wb-variant-name input { font-weight: 600; }
.wb-root .wb-examples .wb-examples-head { font-size: 11px; color: var(--jp-ui-font-color2, #777); }
.wb-root .wb-examples .widget-html-content { line-height: 1.3; }
.wb-root .wb-msg { display: flex; gap: 6px; margin: 2px 0; }
.wb-root .wb-msg-role { flex: 0 0 64px; font-size: 10.5px; font-weight: 600; text-transform: uppercase;
  color: var(--jp-ui-font-color2, #777); padding-top: 3px; }
.wb-root .wb-msg-text { flex: 1 1 auto; min-width: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12.5px;
  background: var(--jp-layout-color2, #f3f3f3); border-radius: 4px; padding: 2px 6px; }
.wb-root .wb-msg-assistant .wb-msg-text { background: #eef5fb; }
.wb-root .wb-inputs-grid { margin-top: 8px; gap: 4px; }
.wb-root .wb-grid-cell { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12.5px; line-height: 1.4;
  border: 1px solid var(--jp-border-color2, #e3e3e3); border-radius: 4px; padding: 3px 6px; max-height: 140px;
  border-left: 3px solid #2f6fdf; overflow-y: auto; background: var(--jp-layout-color1, #fafbfc); }
.wb-root .wb-grid-error { color: #9b1c1c; background: #fdecee; }
.wb-root .wb-grid-empty { color: var(--jp-ui-font-color3, #999); }
.wb-root .wb-grid .widget-html-content { line-height: 1.4; }
.wb-root .wb-status { font-size: 12px; color: var(--jp-ui-font-color2, #777); }
.wb-root .wb-status-running { color: #2f6fdf; }
.wb-root .wb-status-loading { color: #9a6700; font-weight: 600; }
.wb-root pre.wb-code-text {
  font-family: var(--jp-code-font-family, monospace); font-size: 12px; line-height: 1.4; margin: 0;
  background: var(--jp-layout-color2, #f6f8fa); border: 1px solid var(--jp-border-color2, #e0e0e0);
  border-radius: 4px; padding: 8px 10px; white-space: pre; overflow: auto; max-height: 360px; user-select: text;
}
.wb-root .wb-history select { font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
.wb-root .wb-status-error, .wb-root .wb-status-stopped { color: #c62828; }
.wb-root .wb-answer-header { font-size: 12.5px; }
.wb-root .wb-rating { gap: 4px; }
.wb-root .wb-rating .widget-button { padding: 0; }
.wb-root .wb-cursor::after { content: '\\258D'; color: #2f6fdf; animation: wb-blink 1s steps(1) infinite; }
@keyframes wb-blink { 50% { opacity: 0; } }
.wb-root .wb-variant { border: 1px solid var(--jp-border-color2, #e6e6e6); border-radius: 6px; padding: 6px 8px;
  gap: 4px; min-width: 0; }
.wb-root .wb-group { border: 1px solid var(--jp-border-color2, #e6e6e6); border-radius: 6px; padding: 6px 8px;
  gap: 4px; min-width: 0; }
.wb-root .wb-group-header { font-size: 12.5px; }
.wb-root .wb-diff-view { max-height: 360px; overflow-y: auto; }
.wb-root .wb-diff-view .widget-html-content, .wb-root .wb-group-header .widget-html-content,
.wb-root .wb-answer-header .widget-html-content { line-height: 1.4; }
.wb-root .widget-button.mod-primary { font-weight: 600; }
"""


#: The stylesheet of the HTML summary shown beside each widget (see ``StateWidget._ipython_display_``):
#: hidden while the live widget renders in the same output area; once the widget's model is gone
#: (a saved notebook reopened), the summary shows and the widget's "model not found" line is hidden.
FALLBACK_CSS = """
.jp-OutputArea:has(.wb-root) > .jp-OutputArea-child:has(.wb-fallback) { display: none; }
.jp-OutputArea:has(.wb-fallback):not(:has(.wb-root))
  > .jp-OutputArea-child:not(:has(.wb-fallback)):not(:has([data-mime-type])) { display: none; }
"""
