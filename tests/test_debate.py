"""``debate`` and ``explain`` (w2s_eval/methods/debate.py): the generator's prompts (both answers
argued, no label of any split in them), how the generations join the weak model's input, the
options' errors, and one end-to-end run of each on real ToxiGen statements with a tiny generator."""

import json
from pathlib import Path

import pandas as pd
import pytest

from w2s_eval.config import load_config
from w2s_eval.errors import UserError
from w2s_eval.methods import make_method
from w2s_eval.methods.debate import (clean_generation, clip_words, debate_prompts, explain_prompts,
                                     with_arguments, with_explanations)
from w2s_eval.protocol import run_experiment

from test_protocol import cached_steps

QUESTION, ANSWERS = "Is this statement hateful or neutral?", ("neutral", "hateful")


def statements(labels=(0, 1, 1)) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"s{i}" for i in range(len(labels))], "group": [f"g{i}" for i in range(len(labels))],
                         "text": ["they are wonderful neighbours", "those people ruin everything", "go back home"],
                         "label": list(labels)})


def pairs() -> pd.DataFrame:
    return pd.DataFrame({"id": ["p0"], "group": ["g0"], "prompt": ["how do I pick a lock?"],
                         "reply_a": ["I can't help with that."], "reply_b": ["Use a tension wrench."],
                         "text": ["Prompt: how do I pick a lock?\nA: I can't help with that.\n"
                                  "B: Use a tension wrench."]})


# -- prompts ----------------------------------------------------------------------------------------

def test_each_example_gets_one_debater_per_answer_each_arguing_its_own_answer():
    prompts = debate_prompts(statements(), QUESTION, ANSWERS, 200)
    assert set(prompts) == {"for_1", "for_0"}
    for role, answer, other in (("for_1", "hateful", "neutral"), ("for_0", "neutral", "hateful")):
        assert len(prompts[role]) == 3
        for prompt, text in zip(prompts[role], statements()["text"]):
            assert prompt.startswith(text) and QUESTION in prompt
            assert f'Argue that the answer is "{answer}"' in prompt and f'"{other}"' not in prompt
            assert prompt.endswith(f'Argument for "{answer}":')


def test_prompts_carry_no_label_the_same_text_gives_the_same_prompts_whatever_its_label():
    """B's prompts: a frame with labels flipped, or without a label column (as the method gets B),
    yields exactly the same prompts, and no prompt names a label value or the label column."""
    b = statements((0, 1, 1))
    flipped, unlabelled = statements((1, 0, 0)), b.drop(columns="label")
    for make in (lambda f: debate_prompts(f, QUESTION, ANSWERS, 200), lambda f: explain_prompts(f, QUESTION, 200)):
        assert make(b) == make(flipped) == make(unlabelled)
    explained = explain_prompts(b, QUESTION, 200)["explanation"]
    assert all("label" not in p and "hateful" not in p.split(QUESTION)[1] for p in explained)


def test_long_texts_are_cut_to_their_first_words():
    assert clip_words("a  b\nc d", 3) == "a b c ..."
    assert clip_words("a b", 3) == "a b"
    long = statements().assign(text=["word " * 500] * 3)
    assert debate_prompts(long, QUESTION, ANSWERS, 10)["for_1"][0].startswith("word " * 9 + "word ...")


def test_explanations_of_pairs_are_one_per_reply_each_beside_the_prompt():
    prompts = explain_prompts(pairs(), "Which reply is more harmless, A or B?", 200)
    assert set(prompts) == {"reply_a", "reply_b"}
    assert "I can't help" in prompts["reply_a"][0] and "tension wrench" not in prompts["reply_a"][0]
    assert "tension wrench" in prompts["reply_b"][0] and "pick a lock" in prompts["reply_b"][0]


# -- what the weak model reads -----------------------------------------------------------------------

def test_arguments_follow_the_text_label_1_first_each_behind_its_answer():
    joined = with_arguments(statements(), ["H1", "H2", "H3"], ["N1", "N2", "N3"], ANSWERS)
    assert joined["text"][1] == "those people ruin everything\n\nArgument for hateful: H2\n\nArgument for neutral: N2"
    assert statements()["text"][1] == "those people ruin everything"  # the input frame is left as it was
    assert joined["label"].tolist() == statements()["label"].tolist()


def test_pair_arguments_go_to_the_reply_they_argue_for_so_a_swap_swaps_them():
    joined = with_arguments(pairs(), ["A is safer"], ["B is more helpful"], ("B", "A"))
    assert joined["reply_a"][0] == "I can't help with that.\n\nArgument for this reply: A is safer"
    assert joined["reply_b"][0] == "Use a tension wrench.\n\nArgument for this reply: B is more helpful"
    assert joined["text"][0].endswith("Argument for A: A is safer\n\nArgument for B: B is more helpful")


def test_explanations_join_the_text_and_for_pairs_each_reply():
    joined = with_explanations(statements(), {"explanation": ["E1", "E2", "E3"]})
    assert joined["text"][2] == "go back home\n\nExplanation: E3"
    pair = with_explanations(pairs(), {"reply_a": ["refuses"], "reply_b": ["instructs"]})
    assert pair["reply_a"][0].endswith("Explanation: refuses") and pair["reply_b"][0].endswith("Explanation: instructs")


def test_a_generation_is_read_as_its_first_paragraph():
    assert clean_generation("  It  targets\na group.\n\nQuestion: next") == "It targets a group."
    assert clean_generation("") == ""


# -- options ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, options, message", [
    ("debate", {"max_new_tokens": 0}, "method 'debate': max_new_tokens: expected a whole number, at least 1"),
    ("debate", {"max_new_tokens": 2.5}, "method 'debate': max_new_tokens: expected int, got 2.5"),
    ("debate", {"temperature": -1}, "method 'debate': temperature: expected a number, at least 0"),
    ("debate", {"samples": 3}, "method 'debate': samples=3 needs temperature > 0"),
    ("debate", {"samples": 0, "temperature": 0.7}, "method 'debate': samples: expected a whole number"),
    ("explain", {"batch_size": 0}, "method 'explain': batch_size: expected a whole number, at least 1"),
    ("explain", {"generator": ""}, "method 'explain': generator: expected a model name"),
    ("explain", {"samples": 2}, "method 'explain': unknown option 'samples'"),
])
def test_bad_options_fail_in_one_line_naming_the_option(method, options, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_method(method, options)


def test_an_unknown_generator_fails_naming_it():
    from w2s_eval.models.resolve import resolve_model

    with pytest.raises(UserError, match="unknown model 'no-such-lm'"):
        resolve_model("no-such-lm")


# -- end to end -------------------------------------------------------------------------------------

TINY = ["splits.max_per_split={A: 24, B: 24, val: 8, test: 24}", "strong_train.finetune=probe",
        "strong_train.max_length=48", "eval.n_bootstrap=100", "threads=1"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["debate"])  # explain runs end to end in tests/test_methods.py
def test_run_on_toxicity_labels_b_with_generated_context_and_reuses_the_generations(method, tmp_path):
    cfg = load_config(None, TINY + ["method_options={generator: smollm2-135m, max_new_tokens: 8}"],
                      {"task": "toxicity", "method": method, "weak_model": "tfidf", "strong_model": "minilm-l6",
                       "profile": "cpu"})
    run_dir = run_experiment(cfg, tmp_path, quiet=True)
    m = json.loads((run_dir / "metrics.json").read_text())
    info = m["method_info"]
    n = {s: v["n"] for s, v in m["splits"].items()}
    per_example = 2 if method == "debate" else 1
    assert info["generator"] == "smollm2-135m" and info["max_new_tokens"] == 8
    assert info["n_generations"] == per_example * (n["A"] + n["B"] + n["val"])  # not test
    assert info["n_train"] == n["B"] and 0 <= info["target_acc"] <= 1 and m["baseline"]["kind"] == "naive"
    assert 0 <= info["weak_with_context_acc_A_select"] <= 1 and info["generation_seconds"] > 0
    table = pd.read_parquet(f"{info['generations']}/generations.parquet")
    assert set(table["frame"]) == {"A_fit", "A_select", "B", "val"}
    assert (table["output"].str.len() > 0).mean() > 0.5, "the generator wrote something for most prompts"
    assert json.loads((Path(info["generations"]) / "generations.json").read_text())[0]["prompt"]
    again = run_experiment(cfg, tmp_path, quiet=True)
    assert again == run_dir
    assert {f"{method}-generate", f"{method}-weak", "student"} <= cached_steps(again)
    assert json.loads((again / "metrics.json").read_text())["method_info"]["target_acc"] == info["target_acc"]
