"""Errors the project reports to a person as one line, without a traceback.

``ConfigurationError`` is raised for an unusable setting (an environment variable, a CLI argument, a
source table or column the configuration points at). Its text names the setting, says what is wrong
and gives an example of a good value; it never holds a secret (passwords are masked before they get
here). Command-line entry points print it as ``<program>: <text>`` and exit with status 2.
"""

from __future__ import annotations

import re


class ConfigurationError(ValueError):
    """An unusable setting. ``setting`` is its name (``OPENDENTAL_URL``, ``--patients``, ...),
    ``problem`` what is wrong with it, ``example`` a good value (optional). ``str()`` is one line."""

    def __init__(self, setting: str, problem: str, example: str | None = None) -> None:
        self.setting = setting
        self.problem = problem
        self.example = example
        text = f"{setting}: {problem}"
        if example:
            text += f" (example: {example})"
        super().__init__(text)


def check_single_at(url: str, setting: str, example: str | None = None) -> None:
    """Raise ConfigurationError when ``url``'s part before the host holds more than one ``@``: an ``@``
    in a user name or password must be written ``%40``. Unescaped, URL parsers take the rest of the
    password for the host name, and messages that name the host would show it."""
    authority = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if authority.count("@") > 1:
        raise ConfigurationError(setting, "has more than one '@' before the host: write an '@' in the user "
                                 "name or password as %40", example)


def mask_secret(text: str, secret: str) -> str:
    """``text`` with each whole occurrence of ``secret`` written ``***``. Whole: not inside a longer run of
    letters and digits, so a short password ("p") does not garble the words of a server's message
    ("timeout expired") while a password quoted by it is still hidden."""
    if not secret:
        return text
    return re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", "***", text)
