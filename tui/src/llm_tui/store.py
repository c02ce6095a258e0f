"""Conversations on disk: one JSON file each in the data dir; listed, reopened, exported as Markdown."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from openai.types.chat import ChatCompletionMessageParam


@dataclass
class Turn:
    role: str  # user | assistant | error
    content: str
    model: str = ""
    stats: dict = field(default_factory=dict)


@dataclass
class Conversation:
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    title: str = "New conversation"
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    turns: list[Turn] = field(default_factory=list)

    def messages(self) -> list[ChatCompletionMessageParam]:
        """What goes to the model: the user and assistant turns, not the error notes."""
        messages: list[ChatCompletionMessageParam] = []
        for turn in self.turns:
            if turn.role == "user":
                messages.append({"role": "user", "content": turn.content})
            elif turn.role == "assistant":
                messages.append({"role": "assistant", "content": turn.content})
        return messages

    def markdown(self) -> str:
        lines = [f"# {self.title}", "", f"_{self.created}_", ""]
        for turn in self.turns:
            if turn.role == "user":
                lines += [f"**You:** {turn.content}", ""]
            elif turn.role == "assistant":
                figures = turn.stats
                meta = f" _({turn.model}"
                if figures.get("completion_tokens"):
                    meta += f", {figures['completion_tokens']} tokens"
                lines += [f"**{turn.model or 'Assistant'}:**", "", turn.content, "", meta + ")_", ""]
            else:
                lines += [f"> Error: {turn.content}", ""]
        return "\n".join(lines)


class ConversationStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, conversation: Conversation) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{conversation.id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(conversation), indent=2, ensure_ascii=False))
        tmp.replace(path)
        return path

    def load(self, conversation_id: str) -> Conversation:
        data = json.loads((self.root / f"{conversation_id}.json").read_text())
        turns = [Turn(**t) for t in data.pop("turns", [])]
        return Conversation(**data, turns=turns)

    def list(self) -> list[Conversation]:
        if not self.root.exists():
            return []
        found = []
        for path in self.root.glob("*.json"):
            try:
                found.append(self.load(path.stem))
            except (ValueError, TypeError, KeyError):
                continue  # a damaged file is skipped, not fatal
        return sorted(found, key=lambda c: c.created, reverse=True)

    def export(self, conversation: Conversation, directory: Path | None = None) -> Path:
        directory = directory or self.root / "exports"
        directory.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", conversation.title.lower()).strip("-")[:40] or "conversation"
        path = directory / f"{slug}-{conversation.id}.md"
        path.write_text(conversation.markdown())
        return path
