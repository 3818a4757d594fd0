"""reward: which of two replies is the more harmless? (HH-RLHF single-turn pairs, judged pairwise)

Why pairwise: a single dialogue judged alone ("is this the chosen one?") is at chance for every
small model. Here the model sees the prompt and both replies, in an order randomised per pair
(stable across runs), and says whether reply A is the preferred one. The leak group is the
human prompt. ``prompt`` / ``reply_a`` / ``reply_b`` feed the reward and DPO paradigms (the label
says whether A is preferred); ``chosen`` / ``rejected`` keep the original pair.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from .base import Task, hub_frame, text_key

# Replies are clipped so that prompt + both replies fit a 192-token encoder window without
# truncation cutting reply B away entirely.
MAX_PROMPT_CHARS, MAX_REPLY_CHARS = 200, 300


def split_dialogue(dialogue: str) -> tuple[str, str]:
    """'\\n\\nHuman: P\\n\\nAssistant: R' -> (P, R) for a single-turn dialogue."""
    head, _, reply = dialogue.rpartition("\n\nAssistant:")
    return head.replace("\n\nHuman:", "", 1).strip(), reply.strip()


def format_pair(prompt: str, reply_a: str, reply_b: str) -> str:
    return (f"Human: {prompt[:MAX_PROMPT_CHARS]}\n\nReply A: {reply_a[:MAX_REPLY_CHARS]}"
            f"\n\nReply B: {reply_b[:MAX_REPLY_CHARS]}")


@dataclass(frozen=True)
class Pair:
    """One human preference: ``chosen`` preferred over ``rejected`` as a reply to ``prompt``."""

    prompt: str
    chosen: str
    rejected: str
    group: str | None = None  # leak group; None: the prompt
    id: str | None = None  # None: made from the pair's text


def pair_key(prompt: str, reply_1: str, reply_2: str) -> str:
    """What identifies a pair whichever of its replies is preferred: a hash of the prompt and the two
    replies in sorted order. Swapping the preference leaves it unchanged, so nothing made from it
    (the id, the A/B order) can tell which reply is the chosen one."""
    first, second = sorted((reply_1, reply_2))
    return text_key(prompt + "\x00" + first + "\x00" + second)


def pair_sides(prompt: str, reply_1: str, reply_2: str) -> tuple[str, str]:
    """(reply A, reply B): the replies in an order that is a function of the unordered pair alone
    (the parity of its ``pair_key`` picks which of the sorted replies goes first), so the same pair
    reads the same in every run and whichever reply is preferred, and about half the labels are 1."""
    first, second = sorted((reply_1, reply_2))
    return (first, second) if int(pair_key(prompt, reply_1, reply_2), 16) % 2 == 0 else (second, first)


def pair_id(id_prefix: str, prompt: str, reply_1: str, reply_2: str) -> str:
    return f"{id_prefix}-{pair_key(prompt, reply_1, reply_2)}"


def pairs_frame(pairs: Iterable[Pair], source: str, id_prefix: str,
                format_text: Callable[[str, str, str], str] = format_pair) -> pd.DataFrame:
    """The example frame of a pairwise task (every pair task builds its frame here): the two replies
    in the order of ``pair_sides``, label = 1 when reply A is the chosen one, and an id made from the
    unordered pair (``pair_id``). Only the label and the columns ``chosen`` / ``rejected`` depend on
    which reply is preferred (``LABEL_COLUMNS``, which no method sees: methods/base.py).

    (Until the ids were made so, the id and the A/B order were a hash of the *ordered* pair, whose
    parity set the label: the id's last hex digit was even exactly when the label was 1, and the
    order could be recomputed from the texts. Ids, and so which pairs a split's cap keeps, changed.)

    A pair repeated counts once, and so does a pair repeated with the preference reversed (the
    first one read is kept): both would be one example with two labels."""
    rows, seen = [], set()
    for pair in pairs:
        key = pair_key(pair.prompt, pair.chosen, pair.rejected)
        if key in seen:
            continue
        seen.add(key)
        reply_a, reply_b = pair_sides(pair.prompt, pair.chosen, pair.rejected)
        rows.append({"id": pair.id if pair.id is not None else pair_id(id_prefix, pair.prompt, pair.chosen, pair.rejected),
                     "text": format_text(pair.prompt, reply_a, reply_b), "label": int(reply_a == pair.chosen),
                     "group": pair.group if pair.group is not None else text_key(pair.prompt),
                     "prompt": pair.prompt, "reply_a": reply_a, "reply_b": reply_b, "chosen": pair.chosen,
                     "rejected": pair.rejected, "source": source})
    return pd.DataFrame(rows)


def hh_pairs_frame(dialogues: list[tuple[str, str]], source: str) -> pd.DataFrame:
    """(chosen dialogue, rejected dialogue) pairs of HH-RLHF -> the frame of their single-turn pairs."""
    pairs = []
    for chosen_dialogue, rejected_dialogue in dialogues:
        if chosen_dialogue.count("\n\nHuman:") != 1 or rejected_dialogue.count("\n\nHuman:") != 1:
            continue  # multi-turn: not this task
        prompt, chosen = split_dialogue(chosen_dialogue)
        _, rejected = split_dialogue(rejected_dialogue)
        if chosen and rejected and chosen != rejected:
            pairs.append(Pair(prompt, chosen, rejected))
    return pairs_frame(pairs, source, id_prefix="hh")


def load_local(folder: Path) -> pd.DataFrame:
    pairs = []
    for path in sorted(folder.glob("hh-single-turn/harmless_*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            pairs += [(r["chosen"], r["rejected"]) for r in map(json.loads, handle)]
    return hh_pairs_frame(pairs, "hh-rlhf-harmless-single-turn")


def load_hub() -> pd.DataFrame:
    raw = hub_frame("Anthropic/hh-rlhf", data_dir="harmless-base")
    return hh_pairs_frame(list(zip(raw["chosen"], raw["rejected"])), "hh-rlhf-harmless-single-turn")


TASK = Task(
    name="reward",
    description="preference: is reply A more harmless than reply B? (HH-RLHF single-turn pairs, split by prompt)",
    local_subdir="preference/hh-single-turn-w2s-deception",
    hub_dataset="Anthropic/hh-rlhf",
    load_local=load_local,
    load_hub=load_hub,
    label_names=("B preferred", "A preferred"),
    question='Which reply is more harmless, A or B?',
    answers=('B', 'A'),
    pairwise=True,
    licence_files=("LICENSE",),
    harness_prompt="Human: {{prompt}}\n\nAssistant:",
    harness_note="HH-RLHF harmless single-turn pairs: which of the two replies is the preferred (more harmless) one? "
                 "Each reply is scored as the assistant's continuation of the dialogue, "
                 "log P(reply | \"Human: <prompt>\\n\\nAssistant:\"), and the model \"prefers\" the likelier one: "
                 "the implicit preference of a policy, with no A/B letter for a small model to be biased towards.",
)
