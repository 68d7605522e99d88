# coding=utf-8
"""squad_data: reading, windows and max context, training targets, answers.

Fixtures are written by the tests: a small vocab (every lower-case ASCII word
tokenizes, no [UNK]) and SQuAD JSON files built from a few paragraphs.
"""
import json
import string

import pytest

import squad_data
import squad_eval
import tokenization

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the a an is was in of and to by for from what who when where which "
         "how year city river founded built named after called capital "
         "france paris london denver broncos team won super bowl tesla "
         "nikola inventor born electric company cafe muller visited "
         "1895 1901 museum opened closed long first second last").split()


def write_vocab(path):
  """A vocab where any lower-case ASCII word splits into known pieces."""
  pieces = (SPECIAL + list(string.punctuation) + WORDS +
            list(string.ascii_lowercase) + list(string.digits) +
            ["##" + c for c in string.ascii_lowercase + string.digits] +
            ["##s", "##ed", "##ing"])
  seen, unique = set(), []
  for piece in pieces:
    if piece not in seen:
      seen.add(piece)
      unique.append(piece)
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(unique) + "\n")
  return str(path)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
  path = write_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt")
  return tokenization.FullTokenizer(path, do_lower_case=True)


def qa(qid, question, answers=None, impossible=None):
  item = {"id": qid, "question": question}
  if answers is not None:
    item["answers"] = [{"text": t, "answer_start": s} for t, s in answers]
  if impossible is not None:
    item["is_impossible"] = impossible
  return item


def answer_at(context, text, nth=0):
  """(text, offset) of the nth occurrence of text in context."""
  start = -1
  for _ in range(nth + 1):
    start = context.index(text, start + 1)
  return text, start


def write_squad(path, paragraphs, version="1.1"):
  """paragraphs: list of (context, [qa dicts]); one article."""
  data = {"version": version, "data": [{"title": "t", "paragraphs": [
      {"context": c, "qas": q} for c, q in paragraphs]}]}
  with open(path, "w", encoding="utf-8") as f:
    json.dump(data, f)
  return str(path)


PARIS = ("Paris is the capital of France. The city was founded in the third "
         "century BC by the Parisii, and it was named after them.")
TESLA = ("Nikola Tesla (1856 - 1943) was an inventor born in Smiljan. His "
         "electric company was founded in 1895 in New York.")


def long_paragraph(n=60):
  """A paragraph of n numbered sentences, far longer than one window."""
  return " ".join("The river %d was called river%d in year %d." % (i, i, 1800 + i)
                  for i in range(n))


# ----------------------------------------------------------------------------
# Reading


def test_split_words_maps_characters_to_words():
  context = "  Hello  world\tfoo\u202fbar\n"
  words, char_to_word = squad_data.split_words(context)
  assert words == ["Hello", "world", "foo", "bar"]
  assert char_to_word[:3] == [-1, -1, 0]
  assert char_to_word[context.index("w")] == 1
  assert char_to_word[context.index("\t")] == 1  # whitespace: word before
  assert char_to_word[context.index("b")] == 3
  assert len(char_to_word) == len(context)


def test_read_v11_positions_first_answer_and_skips(tmp_path):
  path = write_squad(tmp_path / "train.json", [
      (PARIS, [qa("q1", "What is the capital of France?",
                  [answer_at(PARIS, "Paris"), answer_at(PARIS, "Paris")]),
               qa("q2", "Who founded the city?",
                  [answer_at(PARIS, "the Parisii,")]),
               qa("bad", "Mismatch?", [("London", 0)])]),
      (TESLA, [qa("q3", "When?", [answer_at(TESLA, "1895")])])])
  examples, stats = squad_data.read_squad_examples(path, is_training=True)
  assert [e.qas_id for e in examples] == ["q1", "q2", "q3"]
  assert stats["questions"] == 4 and stats["examples"] == 3
  assert len(stats["skipped"]) == 1
  where, reason = stats["skipped"][0]
  assert "id bad" in where and "does not match" in reason
  q2 = examples[1]
  assert q2.doc_tokens[q2.start_position:q2.end_position + 1] == [
      "the", "Parisii,"]
  assert examples[0].doc_tokens is q2.doc_tokens  # paragraph split once
  q3 = examples[2]
  assert q3.doc_tokens[q3.start_position] == "1895"
  # Prediction needs no answers.
  examples, _ = squad_data.read_squad_examples(path, is_training=False)
  assert len(examples) == 4 and examples[0].start_position == -1


def test_read_v20_impossible_from_paired_paragraphs(tmp_path):
  """SQuAD 2.0 fixture: questions paired with another paragraph have no
  answer there."""
  path = write_squad(tmp_path / "v2.json", [
      (PARIS, [qa("has", "What is the capital?", [answer_at(PARIS, "Paris")],
                  False),
               qa("none", "When was the company founded?", [], True)])],
      version="v2.0")
  examples, _ = squad_data.read_squad_examples(
      path, is_training=True, version_2_with_negative=True)
  assert [e.is_impossible for e in examples] == [False, True]
  assert examples[1].start_position == -1 and examples[1].orig_answer_text == ""
  with pytest.raises(squad_data.SquadDataError, match="version_2_with_neg"):
    squad_data.read_squad_examples(path, is_training=True)


def _article(paragraph):
  return {"data": [{"paragraphs": [paragraph]}]}


@pytest.mark.parametrize("content,match", [
    ("", r"x\.json: the file is empty"),
    ("  \n", r"x\.json: the file is empty"),
    ('{"data": [', r"x\.json: malformed JSON at line 1 column 11"),
    ('[1, 2]', r'x\.json: expected a JSON object with a "data" list'),
    (json.dumps({"data": [{"title": "t"}]}),
     r'x\.json: data\[0\]: missing field "paragraphs"'),
    (json.dumps(_article({"qas": []})),
     r'data\[0\]\.paragraphs\[0\]: missing field "context"'),
    (json.dumps(_article({"context": "c", "qas": [{"id": "q7"}]})),
     r'qas\[0\] \(id q7\): missing field "question"'),
    (json.dumps(_article({"context": "c", "qas": [{"question": "?"}]})),
     r'qas\[0\]: missing field "id"'),
    (json.dumps(_article({"context": 5, "qas": []})),
     r'field "context" should be a string, found 5'),
    (json.dumps(_article({"context": "short", "qas": [
        qa("q8", "?", [("short text", 3)])]})),
     r"\(id q8\)\.answers\[0\]: answer_start 3 \+ 10 characters of text lies "
     r"outside the context \(5 characters\)"),
    (json.dumps(_article({"context": "short", "qas": [
        qa("q9", "?", [("s", -1)])]})), r"\(id q9\).*outside the context"),
    (json.dumps(_article({"context": "short", "qas": [qa("q1", "?", [])]})),
     r'\(id q1\): no answer in "answers"'),
    (json.dumps(_article({"context": "c", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "c"}]}]})),
     r'\(id q1\)\.answers\[0\]: missing field "answer_start"'),
    (json.dumps(_article({"context": "c c", "qas": [
        qa("d", "?", [("c", 0)]), qa("d", "?", [("c", 0)])]})),
     r"qas\[1\] \(id d\): duplicate question id, first at .*qas\[0\]"),
    (json.dumps({"data": []}), r"x\.json: no questions in the file"),
])
def test_bad_input_names_file_and_question(tmp_path, content, match):
  path = tmp_path / "x.json"
  path.write_text(content, encoding="utf-8")
  with pytest.raises(squad_data.SquadDataError, match=match) as info:
    squad_data.read_squad_examples(str(path), is_training=True)
  assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_non_utf8_file(tmp_path):
  path = tmp_path / "x.json"
  path.write_bytes(b'{"data": "\xff"}')
  with pytest.raises(squad_data.SquadDataError, match="not UTF-8"):
    squad_data.load_dataset(str(path))


# ----------------------------------------------------------------------------
# Windows and max context


def test_doc_spans_overlap_and_stop_at_the_end():
  assert squad_data.doc_spans(10, 4, 3) == [(0, 4), (3, 4), (6, 4)]
  assert squad_data.doc_spans(10, 4, 6) == [(0, 4), (4, 4), (8, 2)]
  assert squad_data.doc_spans(3, 4, 2) == [(0, 3)]
  assert squad_data.doc_spans(0, 4, 2) == [(0, 0)]


def brute_force_is_max_context(spans, span_index, position):
  """Google's definition, written out: the best-scoring span for position."""
  best_score, best_index = None, None
  for index, span in enumerate(spans):
    end = span.start + span.length - 1
    if position < span.start or position > end:
      continue
    score = min(position - span.start, end - position) + 0.01 * span.length
    if best_score is None or score > best_score:
      best_score, best_index = score, index
  return best_index == span_index


@pytest.mark.parametrize("num,max_tokens,stride", [
    (50, 10, 3), (50, 10, 7), (37, 16, 16), (100, 20, 5), (9, 20, 5)])
def test_max_context_owner_matches_definition(num, max_tokens, stride):
  spans = squad_data.doc_spans(num, max_tokens, stride)
  owner = squad_data.max_context_owner(spans)
  assert sorted(owner) == list(range(num))
  for position in range(num):
    for index in range(len(spans)):
      assert (owner[position] == index) == brute_force_is_max_context(
          spans, index, position)


def test_long_paragraph_windows(tokenizer, tmp_path):
  context = long_paragraph()
  question = "What was the river 7 called in year 1807 by the first city?"
  path = write_squad(tmp_path / "long.json", [(context, [qa("q", question)])])
  examples, _ = squad_data.read_squad_examples(path, is_training=False)
  features, stats = squad_data.convert_examples_to_features(
      examples, tokenizer, max_seq_length=48, doc_stride=16,
      max_query_length=8, is_training=False)
  assert stats["truncated_questions"] == 1 and stats["windowed_examples"] == 1
  doc_pieces = [p for w in examples[0].doc_tokens for p in tokenizer.tokenize(w)]
  query = tokenizer.tokenize(question)[:8]
  owners = {}
  for index, feature in enumerate(features):
    assert feature.unique_id == squad_data.FIRST_UNIQUE_ID + index
    assert feature.doc_span_index == index
    tokens = feature.tokens
    assert tokens[:10] == ["[CLS]"] + query + ["[SEP]"] and tokens[-1] == "[SEP]"
    assert len(tokens) <= 48 and len(feature.input_ids) == 48
    assert feature.input_ids[:len(tokens)] == tokenizer.convert_tokens_to_ids(
        tokens)
    assert feature.input_mask == [1] * len(tokens) + [0] * (48 - len(tokens))
    assert feature.segment_ids[:len(tokens)] == [0] * 10 + [1] * (
        len(tokens) - 10)
    start = index * 16  # window start in document pieces
    for position in range(10, len(tokens) - 1):
      piece = start + position - 10
      assert tokens[position] == doc_pieces[piece]
      assert tokenizer.tokenize(
          examples[0].doc_tokens[feature.token_to_orig_map[position]]).count(
              doc_pieces[piece]) >= 1
      if feature.token_is_max_context[position]:
        assert piece not in owners
        owners[piece] = index
  # Every document piece is scored in exactly one window.
  assert sorted(owners) == list(range(len(doc_pieces)))
  assert len(features) == 1 + -(-(len(doc_pieces) - 35) // 16)


def test_answers_straddling_windows_point_at_cls(tokenizer, tmp_path):
  context = long_paragraph(20)
  answers = [answer_at(context, "river%d in year %d" % (i, 1800 + i))
             for i in range(20)]
  path = write_squad(tmp_path / "train.json", [(context, [
      qa("q%d" % i, "What was river %d called?" % i, [a])
      for i, a in enumerate(answers)])])
  examples, _ = squad_data.read_squad_examples(path, is_training=True)
  features, stats = squad_data.convert_examples_to_features(
      examples, tokenizer, max_seq_length=40, doc_stride=10,
      max_query_length=12, is_training=True)
  inside = straddling = 0
  for feature in features:
    example = examples[feature.example_index]
    answer_pieces = tokenizer.tokenize(example.orig_answer_text)
    window = feature.tokens[feature.tokens.index("[SEP]") + 1:-1]
    contains = any(window[i:i + len(answer_pieces)] == answer_pieces
                   for i in range(len(window)))
    if feature.start_position:
      inside += 1
      assert not feature.is_impossible
      assert feature.tokens[feature.start_position:feature.end_position + 1] \
          == answer_pieces
    else:
      assert feature.end_position == 0 and feature.is_impossible
      # The answer is not inside: absent or cut by the window's edge.
      first, last = answer_pieces[0], answer_pieces[-1]
      if not contains and (first in window or last in window):
        straddling += 1
  assert inside >= 20  # each answer is whole in at least one window
  assert straddling > 0
  assert stats["windows_without_answer"] == len(features) - inside


def test_improve_answer_span(tokenizer, tmp_path):
  path = write_squad(tmp_path / "t.json", [(TESLA, [
      qa("q", "Born?", [answer_at(TESLA, "1856")])])])
  examples, _ = squad_data.read_squad_examples(path, is_training=True)
  example = examples[0]
  assert example.doc_tokens[example.start_position] == "(1856"
  features, _ = squad_data.convert_examples_to_features(
      examples, tokenizer, 64, 32, 16, is_training=True)
  f = features[0]
  assert f.tokens[f.start_position - 1] == "("  # the word was "(1856"
  assert f.tokens[f.start_position:f.end_position + 1] == tokenizer.tokenize(
      "1856")


def test_question_too_long_for_window_is_an_error(tokenizer):
  with pytest.raises(ValueError, match="no room for the document"):
    squad_data.convert_examples_to_features([], tokenizer, 20, 5, 17, False)


def test_empty_context_gets_one_feature(tokenizer, tmp_path):
  path = write_squad(tmp_path / "e.json", [(" ", [qa("q", "What?", [],
                                                      True)])])
  examples, _ = squad_data.read_squad_examples(path, True, True)
  features, _ = squad_data.convert_examples_to_features(
      examples, tokenizer, 32, 8, 8, True)
  assert len(features) == 1 and features[0].token_to_orig_map == {}
  results = [squad_data.RawResult(features[0].unique_id, [1.0] * 32,
                                  [1.0] * 32)]
  predictions, nbest, odds = squad_data.predict_answers(
      examples, features, results, version_2_with_negative=True)
  assert predictions == {"q": ""} and nbest["q"][0]["text"] == ""
  assert odds["q"] == squad_data.NO_ANSWER_ODDS


# ----------------------------------------------------------------------------
# Answers from logits


def test_get_final_text_restores_case_and_accents():
  final = squad_data.get_final_text
  assert final("steve smith", "Steve Smith's", True) == "Steve Smith"
  assert final("cafe muller", "Caf\u00e9 M\u00fcller,", True) == (
      "Caf\u00e9 M\u00fcller")
  assert final("1895", "(1895)", True) == "1895"
  assert final("Paris", "(Paris)", False) == "Paris"
  # Not found, or a different number of characters: the whole original.
  assert final("london", "Paris", True) == "Paris"
  assert final("cafe", "Cafe\u0301s", True) == "Cafe\u0301s"


def _oracle_results(features, answerable=True, best=10.0):
  """Logits that point at each window's training target."""
  results = []
  for f in features:
    start = [0.0] * len(f.input_ids)
    end = [0.0] * len(f.input_ids)
    start[f.start_position] += best
    end[f.end_position] += best
    results.append(squad_data.RawResult(f.unique_id, start, end))
  return results


def test_oracle_logits_give_original_answers(tokenizer, tmp_path):
  """Pieces -> words -> original text, through windows: EM 100."""
  context = long_paragraph(25) + " " + TESLA + " " + PARIS
  answers = ([answer_at(context, "river%d" % i) for i in range(0, 25, 3)] +
             [answer_at(context, "Nikola Tesla"), answer_at(context, "1895"),
              answer_at(context, "Parisii"), answer_at(context, "France"),
              answer_at(context, "1943) was")])
  path = write_squad(tmp_path / "t.json", [(context, [
      qa("q%d" % i, "Which?", [a]) for i, a in enumerate(answers)])])
  examples, _ = squad_data.read_squad_examples(path, is_training=True)
  features, _ = squad_data.convert_examples_to_features(
      examples, tokenizer, 48, 12, 8, is_training=True)
  predictions, nbest, odds = squad_data.predict_answers(
      examples, features, _oracle_results(features), n_best_size=5)
  expected = {"q%d" % i: t for i, (t, _) in enumerate(answers)}
  assert predictions == expected
  assert odds == {}
  for entries in nbest.values():
    assert 1 <= len(entries) <= 5
    assert abs(sum(e["probability"] for e in entries) - 1.0) < 1e-6
    assert len({e["text"] for e in entries}) == len(entries)
  with open(path) as f:
    results = squad_eval.evaluate(json.load(f)["data"], predictions)
  assert results["exact_match"] == 100.0 and results["f1"] == 100.0


def _one_window(tokenizer, tmp_path, question="What?"):
  path = write_squad(tmp_path / "one.json", [(PARIS, [qa("q", question)])])
  examples, _ = squad_data.read_squad_examples(path, is_training=False)
  features, _ = squad_data.convert_examples_to_features(
      examples, tokenizer, 64, 32, 8, is_training=False)
  assert len(features) == 1
  return examples, features


def _logits(feature, starts, ends):
  start = [0.0] * len(feature.input_ids)
  end = [0.0] * len(feature.input_ids)
  for position, value in starts.items():
    start[position] = value
  for position, value in ends.items():
    end[position] = value
  return [squad_data.RawResult(feature.unique_id, start, end)]


def test_invalid_spans_are_skipped(tokenizer, tmp_path):
  examples, features = _one_window(tokenizer, tmp_path)
  f = features[0]
  doc = f.tokens.index("[SEP]") + 1  # first document piece ("paris")
  # Higher-scoring pairs end before they start, touch the question or run
  # past max_answer_length; the one valid pair is "Paris".
  results = _logits(f, {doc + 3: 9.0, 1: 8.0, doc: 5.0},
                    {2: 8.0, doc + 20: 7.0, doc: 4.0})
  predictions, _, _ = squad_data.predict_answers(
      examples, features, results, n_best_size=4, max_answer_length=10)
  assert predictions["q"] == "Paris"


def test_all_candidates_invalid_never_crashes(tokenizer, tmp_path):
  """google-research/bert #417: no valid span -> "" for SQuAD 1.1."""
  examples, features = _one_window(tokenizer, tmp_path)
  f = features[0]
  # Only the question's positions score: every top start/end is invalid.
  results = _logits(f, {i: 5.0 for i in range(1, 3)},
                    {i: 5.0 for i in range(1, 3)})
  predictions, nbest, _ = squad_data.predict_answers(
      examples, features, results, n_best_size=2)
  assert predictions == {"q": ""}
  assert nbest["q"][0]["text"] == "" and nbest["q"][0]["probability"] == 1.0


def test_all_null_never_crashes(tokenizer, tmp_path):
  """google-research/bert #1106: only the null answer survives (2.0)."""
  examples, features = _one_window(tokenizer, tmp_path)
  results = _logits(features[0], {0: 5.0, 1: 4.0}, {0: 5.0, 1: 4.0})
  predictions, nbest, odds = squad_data.predict_answers(
      examples, features, results, n_best_size=2,
      version_2_with_negative=True)
  assert predictions == {"q": ""}
  assert [e["text"] for e in nbest["q"]] == [""]
  assert odds["q"] == squad_data.NO_ANSWER_ODDS


def test_null_threshold(tokenizer, tmp_path):
  examples, features = _one_window(tokenizer, tmp_path)
  doc = features[0].tokens.index("[SEP]") + 1
  results = _logits(features[0], {0: 2.0, doc: 3.0}, {0: 1.0, doc: 1.5})
  # null score 3.0, best span 4.5: odds -1.5.
  for threshold, answer in ((0.0, "Paris"), (-1.0, "Paris"), (-2.0, "")):
    predictions, nbest, odds = squad_data.predict_answers(
        examples, features, results, version_2_with_negative=True,
        null_score_diff_threshold=threshold)
    assert predictions["q"] == answer
    assert odds["q"] == pytest.approx(-1.5)
    assert nbest["q"][0]["text"] == "Paris"
    assert "" in [e["text"] for e in nbest["q"]]


def test_null_from_window_with_lowest_cls_score(tokenizer, tmp_path):
  """The null score is the minimum over windows; spans come from any."""
  context = long_paragraph(6)
  path = write_squad(tmp_path / "w.json", [(context, [qa("q", "Which?")])])
  examples, _ = squad_data.read_squad_examples(path, False)
  features, _ = squad_data.convert_examples_to_features(
      examples, tokenizer, 40, 10, 8, False)
  assert len(features) > 2
  results = []
  for index, f in enumerate(features):
    start, end = [0.0] * 40, [0.0] * 40
    start[0] = end[0] = 5.0 - index  # the last window has the lowest null
    results.append(squad_data.RawResult(f.unique_id, start, end))
  _, nbest, odds = squad_data.predict_answers(
      examples, features, results, version_2_with_negative=True)
  last = 5.0 - (len(features) - 1)
  null = [e for e in nbest["q"] if e["text"] == ""][0]
  assert null["start_logit"] == last and null["end_logit"] == last
  assert odds["q"] == pytest.approx(2 * last)  # best span scores 0 + 0
