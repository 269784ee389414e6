"""The painter's undo and redo."""

import torch


class History:
    """Undo/redo for the painter as plain data (lists of grids), so it lives in a per-session gr.State."""

    @staticmethod
    def new(grid) -> dict:
        return {"grid": torch.as_tensor(grid).tolist(), "undo": [], "redo": []}

    @staticmethod
    def push(state: dict | None, grid, limit: int = 100) -> dict:
        """The history with `grid` as the new present; a painter with no history yet starts one."""
        if not state:
            return History.new(grid)
        grid = torch.as_tensor(grid).tolist()
        if grid == state["grid"]:
            return state
        return {"grid": grid, "undo": (state["undo"] + [state["grid"]])[-limit:], "redo": []}

    @staticmethod
    def undo(state: dict) -> dict:
        if not state["undo"]:
            return state
        return {"grid": state["undo"][-1], "undo": state["undo"][:-1], "redo": state["redo"] + [state["grid"]]}

    @staticmethod
    def redo(state: dict) -> dict:
        if not state["redo"]:
            return state
        return {"grid": state["redo"][-1], "undo": state["undo"] + [state["grid"]], "redo": state["redo"][:-1]}
