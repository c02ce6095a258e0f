"""Grounding: BM25 ranking over facts, top-k and token budget, message assembly."""

import pytest

from llm_finetune.validate import count_tokens
from llm_proxy.grounding import Grounder, GroundingConfig, estimate_tokens, ground_messages, last_user_text, terms

pytestmark = pytest.mark.unit

PACK = {
    "version": 1,
    "system_prompt": "You answer questions about the candidate.",
    "sample_questions": ["When is his birthday?"],
    "rows": [
        {
            "id": "r1",
            "fact": "birthday",
            "prompt": "When is his birthday?",
            "response": "He was born on 7 January 1998.",
            "sample": 1,
        },
        {
            "id": "r2",
            "fact": "birthday",
            "prompt": "How old is Louis?",
            "response": "Born in January 1998.",
            "sample": None,
        },
        {
            "id": "r3",
            "fact": "sports",
            "prompt": "Which sports does he play?",
            "response": "Badminton and football, plus some swimming and running.",
            "sample": None,
        },
        {
            "id": "r4",
            "fact": "languages",
            "prompt": "Which programming languages has he used?",
            "response": "Java, Python, Ruby, JavaScript and C.",
            "sample": None,
        },
        {
            "id": "r5",
            "fact": "football",
            "prompt": "What is his favourite football club?",
            "response": "Liverpool, which he has supported since 2008; his favourite player is Messi.",
            "sample": None,
        },
    ],
}


@pytest.fixture(scope="module")
def grounder():
    return Grounder(PACK, count_tokens)


@pytest.mark.parametrize(
    "question, fact",
    [
        ("when was louis born, what is his birthday", "birthday"),
        ("whats his birthdy", "birthday"),  # typo: trigrams still match
        ("what programming language does he know", "languages"),
        ("does he play badminton", "sports"),
        ("favourite club?", "football"),
    ],
)
def test_the_fact_that_answers_ranks_first(grounder, question, fact):
    assert grounder.ground(question).fact_slugs[0] == fact


def test_one_fact_is_one_document_whatever_the_number_of_rows(grounder):
    assert sorted(f.slug for f in grounder.facts) == ["birthday", "football", "languages", "sports"]
    birthday = next(f for f in grounder.facts if f.slug == "birthday")
    # The sample-question row is the canonical answer of its fact.
    assert birthday.answer == "He was born on 7 January 1998."
    assert set(birthday.questions) == {"When is his birthday?", "How old is Louis?"}


def test_top_k_limits_the_facts():
    g = Grounder(PACK, count_tokens, GroundingConfig(max_facts=1, min_relative_score=0))
    assert len(g.ground("birthday sports football languages").facts) == 1


def test_the_token_budget_is_never_exceeded_and_smaller_facts_still_fit():
    football = count_tokens(PACK["rows"][4]["response"])
    budget = football - 1  # the football answer alone no longer fits
    g = Grounder(PACK, count_tokens, GroundingConfig(max_facts=4, token_budget=budget, min_relative_score=0))
    chosen = g.ground("favourite football club and sports he plays")
    assert "football" not in chosen.fact_slugs
    assert "sports" in chosen.fact_slugs
    assert sum(f.tokens for f in chosen.facts) <= budget


def test_a_question_matching_nothing_gets_no_facts_and_says_so(grounder):
    grounding = grounder.ground("zzz qqq")
    assert grounding.facts == ()
    assert "No stored fact" in grounding.system_message


def test_grounded_prompt_is_much_smaller_than_sending_everything(grounder):
    grounded = grounder.ground("When is his birthday?").system_message
    assert "7 January 1998" in grounded
    assert "Liverpool" not in grounded
    assert count_tokens(grounded) < count_tokens(grounder.seed_style_prompt())


def test_ground_messages_prepends_context_and_keeps_the_conversation(grounder):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Which sports does he play?"},
    ]
    out = ground_messages(grounder, messages)
    assert out[1:] == messages
    assert out[0]["role"] == "system" and "Badminton" in out[0]["content"]


def test_content_parts_are_read_as_the_question():
    messages = [{"role": "user", "content": [{"type": "text", "text": "his birthday"}, {"type": "image_url"}]}]
    assert last_user_text(messages) == "his birthday"


def test_messages_without_a_user_turn_are_left_alone(grounder):
    messages = [{"role": "system", "content": "hi"}]
    assert ground_messages(grounder, messages) is messages


def test_terms_drop_stopwords_and_stem_plurals():
    bag = terms("What are the programming languages")
    assert "w:what" not in bag and "w:the" not in bag
    assert "w:language" in bag and "w:programming" in bag


def test_packs_carry_their_token_counts_so_the_proxy_needs_no_tokenizer():
    pack = {**PACK, "rows": [{**r, "response_tokens": 7} for r in PACK["rows"]]}
    assert {f.tokens for f in Grounder(pack).facts} == {7}
    # Without counts the proxy estimates (about four characters a token).
    assert Grounder(PACK).facts[0].tokens == estimate_tokens("He was born on 7 January 1998.")


def test_the_packaged_pack_counts_match_the_real_tokenizer():
    from llm_proxy.knowledge import load_knowledge

    pack = load_knowledge(None)
    for fact in pack.grounder.facts:
        assert fact.tokens == count_tokens(fact.answer)
