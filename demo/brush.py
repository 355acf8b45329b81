"""Gradio's canvases start with no tool chosen, so a first stroke draws nothing: this script, run when a tab or
a canvas becomes visible, chooses the brush in each visible canvas that has not got it yet."""

PICK_BRUSH_JS = """() => setTimeout(() => document.querySelectorAll("button[aria-label='Brush']").forEach(button => {
    if (button.offsetParent !== null && !button.dataset.picked) { button.click(); button.dataset.picked = "1"; }
}), 300)"""
