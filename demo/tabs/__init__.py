"""One module per tab: its layout and its handlers (`build(store)` renders the tab into the current Blocks)."""
