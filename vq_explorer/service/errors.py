"""The one exception the service layer raises for a person's mistake.

It carries no sentence: `code` names what was wrong and `params` hold the figures a sentence needs. The words a
person reads live with the UI and the commands (vq_explorer/messages.py), so the service layer stays free of
English, a copy edit touches one file, and a test checks the code rather than the wording."""


class UserError(ValueError):
    """Bad input from a user (an upload, a grid, a setting, a file): `code` says which, `params` the details."""

    def __init__(self, code: str, /, **params):
        super().__init__(code)
        self.code, self.params = code, params

    def __str__(self) -> str:   # for a caller without the words: the code and its figures
        if self.code == "as_said":      # a lower layer's message (reading an image or a checkpoint), as it said it
            return str(self.params["detail"])
        return self.code + "".join(f" {k}={v!r}" for k, v in self.params.items())


class Note:
    """Something done to a visitor's input on the way in (a resize, a framing), named like a `UserError`."""

    def __init__(self, code: str, /, **params):
        self.code, self.params = code, params

    def __repr__(self) -> str:
        return f"Note({self.code!r}, {self.params!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Note) and (self.code, self.params) == (other.code, other.params)
