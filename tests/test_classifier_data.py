"""Tests for classifier_data.py: processors, errors, features, scores.

Every processor reads small files written here in its task's real layout
(GLUE's TSVs with their headers, CoLA's header-less train/dev, MRPC's BOM and
stray quotes, XNLI's language column, SWAG's quoted CSV); bad input must
fail with the file and line. Scores are checked against scikit-learn and
SciPy.
"""

import json
import os

import numpy as np
import pytest

import classifier_data as cd
import tokenization


def write(folder, name, lines, encoding="utf-8"):
  path = os.path.join(str(folder), name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding=encoding, newline="") as f:
    f.write("".join(line + "\n" for line in lines))
  return path


def error_of(function, *args):
  with pytest.raises(cd.ClassifierDataError) as info:
    function(*args)
  return str(info.value)


# ----------------------------------------------------------------------------
# GLUE processors


def test_cola_headerless_train_and_headed_test(tmp_path):
  write(tmp_path, "train.tsv", ["gj04\t1\t\tOur friends won't buy this.",
                                "gj04\t0\t*\tThey drank the pub."])
  write(tmp_path, "dev.tsv", ["cj99\t1\t\tIt is."])
  write(tmp_path, "test.tsv", ["index\tsentence", "0\tBill walked.",
                               "1\tThe more."])
  p = cd.ColaProcessor()
  train = p.get_train_examples(str(tmp_path))
  assert [(e.text_a, e.label, e.line) for e in train] == [
      ("Our friends won't buy this.", "1", 1), ("They drank the pub.", "0", 2)]
  assert p.get_dev_examples(str(tmp_path))[0].label == "1"
  test = p.get_test_examples(str(tmp_path))
  assert [(e.guid, e.text_a, e.label) for e in test] == [
      ("0", "Bill walked.", None), ("1", "The more.", None)]
  assert p.get_labels() == ["0", "1"]


def test_mrpc_bom_and_stray_quotes(tmp_path):
  header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
  write(tmp_path, "train.tsv", [header, '1\t1\t2\tHe said "hi.\tThe "cat" sat.',
                                "0\t3\t4\tA\tB"], encoding="utf-8-sig")
  write(tmp_path, "test.tsv", ["index\t#1 ID\t#2 ID\t#1 String\t#2 String",
                               "7\t1\t2\tX y\tZ"])
  p = cd.MrpcProcessor()
  train = p.get_train_examples(str(tmp_path))
  assert (train[0].text_a, train[0].text_b, train[0].label) == (
      'He said "hi.', 'The "cat" sat.', "1")
  assert train[1].line == 3
  test = p.get_test_examples(str(tmp_path))
  assert (test[0].guid, test[0].text_b, test[0].label) == ("7", "Z", None)


@pytest.mark.parametrize("processor,header,row,expected", [
    (cd.Sst2Processor, "sentence\tlabel", "a fine film \t1",
     ("a fine film ", None, "1")),
    (cd.QnliProcessor, "index\tquestion\tsentence\tlabel",
     "0\tWho?\tHim.\tnot_entailment", ("Who?", "Him.", "not_entailment")),
    (cd.QqpProcessor, "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
     "5\t1\t2\tHow?\tWhy?\t0", ("How?", "Why?", "0")),
    (cd.RteProcessor, "index\tsentence1\tsentence2\tlabel",
     "0\tA b.\tC d.\tentailment", ("A b.", "C d.", "entailment")),
    (cd.WnliProcessor, "index\tsentence1\tsentence2\tlabel",
     "0\tA b.\tC d.\t1", ("A b.", "C d.", "1")),
    (cd.StsbProcessor, "index\tgenre\tfilename\tyear\told_index\tsource1\t"
     "source2\tsentence1\tsentence2\tscore",
     "0\tmain\tf\t2012\t1\ts\ts\tA man.\tA dog.\t3.800", ("A man.", "A dog.",
                                                         3.8)),
])
def test_glue_processors(tmp_path, processor, header, row, expected):
  write(tmp_path, "train.tsv", [header, row])
  example = processor().get_train_examples(str(tmp_path))[0]
  assert (example.text_a, example.text_b, example.label) == expected
  # The test file: the header without the label column, an index first.
  names = header.split("\t")
  label_column = processor.layout.label
  keep = [i for i, n in enumerate(names) if n != label_column]
  test_header = "\t".join(names[i] for i in keep)
  test_row = "\t".join(row.split("\t")[i] for i in keep)
  write(tmp_path, "test.tsv", [test_header, test_row])
  test = processor().get_test_examples(str(tmp_path))[0]
  assert (test.text_a, test.text_b, test.label) == expected[:2] + (None,)


MNLI_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\t"
               "sentence2_binary_parse\tsentence1_parse\tsentence2_parse\t"
               "sentence1\tsentence2")


def test_mnli_matched_and_mismatched(tmp_path):
  write(tmp_path, "train.tsv", [MNLI_HEADER + "\tlabel1\tgold_label",
                                "0\t1\t1n\tgov\tb\tb\tp\tp\tP.\tH.\tneutral"
                                "\tneutral"])
  dev_header = MNLI_HEADER + "\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\t" \
      "gold_label"
  row = "0\t1\t1e\tgov\tb\tb\tp\tp\tP.\tH.\te\te\te\te\te\tentailment"
  write(tmp_path, "dev_matched.tsv", [dev_header, row])
  write(tmp_path, "dev_mismatched.tsv", [dev_header, row.replace(
      "entailment", "contradiction")])
  p = cd.MnliProcessor()
  assert p.get_labels() == ["contradiction", "entailment", "neutral"]
  assert p.get_train_examples(str(tmp_path))[0].label == "neutral"
  assert p.get_dev_examples(str(tmp_path))[0].label == "entailment"
  mismatched = p.read(os.path.join(str(tmp_path),
                                   p.extra_sets["mm"]["dev"]), "dev")
  assert mismatched[0].label == "contradiction"
  write(tmp_path, "test_matched.tsv", [MNLI_HEADER,
                                       "3\t1\t1\tg\tb\tb\tp\tp\tP.\tH."])
  test = p.get_test_examples(str(tmp_path))[0]
  assert (test.guid, test.text_a, test.text_b, test.label) == (
      "3", "P.", "H.", None)


def test_xnli_language_and_alias(tmp_path):
  write(tmp_path, "multinli/multinli.train.zh.tsv", [
      "premise\thypo\tlabel", "他说。\t她说。\tcontradictory"])
  header = "language\tgold_label\tsentence1\tsentence2\tpairID"
  write(tmp_path, "xnli.dev.tsv", [header, "en\tneutral\tA\tB\t1",
                                   "zh\tentailment\t甲\t乙\t2"])
  p = cd.XnliProcessor("zh")
  train = p.get_train_examples(str(tmp_path))
  assert (train[0].text_a, train[0].label) == ("他说。", "contradiction")
  dev = p.get_dev_examples(str(tmp_path))
  assert [(e.guid, e.text_a, e.label) for e in dev] == [
      ("2", "甲", "entailment")]
  message = error_of(cd.XnliProcessor("fr").get_dev_examples, str(tmp_path))
  assert "xnli.dev.tsv" in message and "language" in message


def test_swag_quoted_csv(tmp_path):
  header = ("video-id,fold-ind,startphrase,sent1,sent2,gold-source,ending0,"
            "ending1,ending2,ending3,label")
  write(tmp_path, "train.csv", [
      header, 'v,1,x,"He runs, then","the man",gold,stops.,"sits, down",'
      'falls.,flies.,1'])
  write(tmp_path, "test.csv", [header.rsplit(",", 1)[0],
                               'v,1,x,A,B,gold,e0,e1,e2,e3'])
  p = cd.SwagProcessor()
  example = p.get_train_examples(str(tmp_path))[0]
  assert example.text_a == "He runs, then"
  assert example.choices == ["the man stops.", "the man sits, down",
                             "the man falls.", "the man flies."]
  assert example.label == 1
  test = p.get_test_examples(str(tmp_path))[0]
  assert test.label is None and test.choices[3] == "B e3"
  write(tmp_path, "val.csv", [header, "v,1,x,A,B,g,a,b,c,d,4"])
  assert "not a choice index in 0..3" in error_of(p.get_dev_examples,
                                                   str(tmp_path))


# ----------------------------------------------------------------------------
# The generic table processor


def table(fmt="auto", **kwargs):
  return cd.TableLayout(fmt, **kwargs)


def test_generic_tsv_by_name_and_test_without_labels(tmp_path):
  layout = table(text_a="review", text_b="title", label="stars", guid="id")
  p = cd.TableProcessor(layout)
  train = write(tmp_path, "train.tsv", ["id\ttitle\treview\tstars",
                                        'a1\tOk "so"\tFine.\t4'])
  example = p.read(train, "train")[0]
  assert (example.guid, example.text_a, example.text_b, example.label) == (
      "a1", "Fine.", 'Ok "so"', "4")
  test = write(tmp_path, "test.tsv", ["id\treview\ttitle", "b\tBad.\tNo"])
  assert p.read(test, "test")[0].label is None
  message = error_of(p.read, test, "dev")
  assert message == "%s:1: no label column 'stars'; a dev file needs labels" \
      % test


def test_generic_csv_quoting_and_indices(tmp_path):
  path = write(tmp_path, "data.csv", ['"Hello, world",pos', 'plain,neg'])
  p = cd.TableProcessor(table(has_header=False, text_a=0, label=1))
  assert [(e.text_a, e.label) for e in p.read(path, "train")] == [
      ("Hello, world", "pos"), ("plain", "neg")]
  # Without quoting the comma splits the first row: a column-count error.
  p = cd.TableProcessor(table(has_header=False, quoting=False, text_a=0,
                              label=1))
  message = error_of(p.read, write(tmp_path, "b.csv",
                                   ['plain,neg', '"Hello, world",pos']),
                     "train")
  assert ":2: 3 columns, expected 2" in message
  # A test file may leave out the last (label) column.
  test = write(tmp_path, "test.csv", ["just text"])
  assert p.read(test, "test")[0].label is None


def test_generic_jsonl_multilabel_and_regression(tmp_path):
  path = write(tmp_path, "train.jsonl", [
      json.dumps({"text": "a", "labels": ["x", "y"]}), "",
      json.dumps({"text": "b", "labels": "y; z"}),
      json.dumps({"text": "c", "labels": []})])
  p = cd.TableProcessor(table(text_a="text", label="labels"), cd.MULTILABEL,
                        multilabel_delimiter=";")
  examples = p.read(path, "train")
  assert [e.label for e in examples] == [["x", "y"], ["y", "z"], []]
  assert [e.line for e in examples] == [1, 3, 4]
  assert cd.collect_labels(examples, cd.MULTILABEL) == ["x", "y", "z"]

  path = write(tmp_path, "r.jsonl", [json.dumps({"text": "a", "y": 2.5}),
                                     json.dumps({"text": "b", "y": "x1"})])
  p = cd.TableProcessor(table(text_a="text", label="y"), cd.REGRESSION)
  assert error_of(p.read, path, "train") == (
      "%s:2: label 'x1' is not a number; a regression task needs a numeric "
      "label" % path)


def test_collect_and_check_labels(tmp_path):
  examples = [cd.InputExample(str(i), "t", label=l, path="f.tsv", line=i)
              for i, l in enumerate(["10", "9", "-1", "9"])]
  assert cd.collect_labels(examples, cd.CLASSIFICATION) == ["-1", "9", "10"]
  message = error_of(cd.check_labels, examples, ["9", "10"],
                     cd.CLASSIFICATION)
  assert message == "f.tsv:2: unknown label '-1'; the label list has: 9, 10"


# ----------------------------------------------------------------------------
# Bad files


def test_file_errors(tmp_path):
  p = cd.Sst2Processor()
  missing = os.path.join(str(tmp_path), "train.tsv")
  assert error_of(p.get_train_examples, str(tmp_path)) == (
      "%s: file not found" % missing)
  write(tmp_path, "train.tsv", ["", "  "])
  assert error_of(p.get_train_examples, str(tmp_path)) == (
      "%s: file is empty" % missing)
  write(tmp_path, "train.tsv", ["sentence\tlabel"])
  assert "no data rows after the header" in error_of(p.get_train_examples,
                                                     str(tmp_path))
  write(tmp_path, "train.tsv", ["sentence\tlabel", "a\t1", "b\t0\textra"])
  assert error_of(p.get_train_examples, str(tmp_path)).startswith(
      "%s:3: 3 columns, expected 2 as in the header" % missing)
  write(tmp_path, "train.tsv", ["text\tlabel", "a\t1"])
  assert error_of(p.get_train_examples, str(tmp_path)) == (
      "%s:1: no column 'sentence' in the header (columns: text, label)" %
      missing)
  with open(missing, "wb") as f:
    f.write(b"sentence\tlabel\na\t1\n\xff\xfe\t0\n")
  assert error_of(p.get_train_examples, str(tmp_path)).startswith(
      "%s:3: not UTF-8 text" % missing)
  jsonl = write(tmp_path, "x.jsonl", ['{"text": "a"}', '{"text": '])
  assert error_of(cd.TableProcessor(table(text_a="text")).read, jsonl,
                  "test").startswith("%s:2: not a JSON object" % jsonl)
  write(tmp_path, "train.tsv", ["sentence\tlabel", "a\t"])
  assert error_of(p.get_train_examples, str(tmp_path)) == (
      "%s:2: empty label" % missing)


def test_stsb_label_must_be_a_number(tmp_path):
  header = ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\t"
            "sentence1\tsentence2\tscore")
  write(tmp_path, "dev.tsv", [header, "0\tg\tf\ty\t0\ts\ts\tA\tB\t1.5",
                              "1\tg\tf\ty\t0\ts\ts\tA\tB\thigh"])
  path = os.path.join(str(tmp_path), "dev.tsv")
  assert error_of(cd.StsbProcessor().get_dev_examples, str(tmp_path)) == (
      "%s:3: label 'high' is not a number; a regression task needs a "
      "numeric label" % path)


# ----------------------------------------------------------------------------
# Features


@pytest.fixture()
def tokenizer(tmp_path):
  tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "d", "##x"]
  path = write(tmp_path, "vocab.txt", tokens)
  return tokenization.FullTokenizer(path, True)


def test_encode_pair_like_google(tokenizer):
  ids, mask, types, tokens, cut = cd.encode_pair(tokenizer, "a b", "c", 8)
  assert tokens == ["[CLS]", "a", "b", "[SEP]", "c", "[SEP]"]
  assert ids == [2, 4, 5, 3, 6, 3, 0, 0]
  assert mask == [1] * 6 + [0] * 2 and types == [0, 0, 0, 0, 1, 1, 0, 0]
  assert not cut
  # The longer segment loses its tail first; b on a tie.
  _, _, _, tokens, cut = cd.encode_pair(tokenizer, "a a a a", "b b", 7)
  assert tokens == ["[CLS]", "a", "a", "[SEP]", "b", "b", "[SEP]"] and cut
  _, _, _, tokens, _ = cd.encode_pair(tokenizer, "a a a", "b b b", 7)
  assert tokens == ["[CLS]", "a", "a", "[SEP]", "b", "b", "[SEP]"]
  # An empty or blank text_b is a single segment.
  for text_b in (None, "", "   "):
    _, _, types, tokens, _ = cd.encode_pair(tokenizer, "a ax", text_b, 6)
    assert tokens == ["[CLS]", "a", "a", "##x", "[SEP]"]
    assert types == [0] * 6


def test_truncate_seq_pair_matches_closed_form():
  for la in range(9):
    for lb in range(9):
      for m in range(0, 12):
        a, b = list(range(la)), list(range(lb))
        cd.truncate_seq_pair(a, b, m)
        assert len(a) + len(b) <= m
        if la + lb > m:
          assert len(a) + len(b) == m


def test_features_by_task_type(tokenizer):
  example = cd.InputExample("0", "a", "b", label="y")
  feature, _, _ = cd.convert_single_example(example, tokenizer, 6,
                                            cd.CLASSIFICATION, ["x", "y"])
  assert feature.label_ids == 1 and feature.is_real_example == 1
  example.label = ["z", "x"]
  feature, _, _ = cd.convert_single_example(example, tokenizer, 6,
                                            cd.MULTILABEL, ["x", "y", "z"])
  assert feature.label_ids == [1, 0, 1]
  example.label = 2.5
  feature, _, _ = cd.convert_single_example(example, tokenizer, 6,
                                            cd.REGRESSION, None)
  assert feature.label_values == 2.5
  example = cd.InputExample("0", "a", choices=["b", "c d", "d"], label=2)
  feature, _, _ = cd.convert_single_example(example, tokenizer, 6,
                                            cd.MULTIPLE_CHOICE, None)
  assert len(feature.input_ids) == 18 and feature.label_ids == 2
  assert feature.input_ids[6:12] == [2, 4, 3, 6, 7, 3]
  pad = cd.padding_features(6, cd.MULTILABEL, 3, num_choices=2)
  assert pad.is_real_example == 0 and len(pad.input_ids) == 12
  assert pad.label_ids == [0, 0, 0]


# ----------------------------------------------------------------------------
# Scores against scikit-learn and SciPy


def test_scores_match_sklearn_and_scipy():
  from scipy import stats
  from sklearn import metrics
  rng = np.random.RandomState(0)
  for trial in range(20):
    n = rng.randint(2, 60)
    classes = 2 if trial % 2 else 4
    y, p = rng.randint(0, classes, n), rng.randint(0, classes, n)
    if trial == 0:
      p = np.zeros(n, int)  # Degenerate: one class predicted.
    assert cd.accuracy(y, p) == pytest.approx(metrics.accuracy_score(y, p))
    assert cd.matthews_corrcoef(y, p) == pytest.approx(
        metrics.matthews_corrcoef(y, p), abs=1e-12)
    if classes == 2:
      precision, recall, f1 = cd.binary_f1(y, p)
      want = metrics.precision_recall_fscore_support(
          y, p, average="binary", zero_division=0)[:3]
      assert (precision, recall, f1) == pytest.approx(want)
    x = rng.randint(0, 5, n).astype(float)  # Ties, for Spearman.
    z = x + rng.randn(n)
    assert cd.pearson(x, z) == pytest.approx(stats.pearsonr(x, z)[0])
    assert cd.spearman(x, z) == pytest.approx(stats.spearmanr(x, z)[0])
    np.testing.assert_allclose(cd.rankdata(x), stats.rankdata(x))
    labels = rng.randint(0, 2, (n, 5))
    labels[:, 4] = 0  # A label never present.
    predicted = rng.randint(0, 2, (n, 5))
    predicted[:, 4] = 0
    micro, macro = cd.multilabel_f1(labels, predicted)
    assert micro == pytest.approx(metrics.f1_score(
        labels, predicted, average="micro", zero_division=0))
    assert macro == pytest.approx(metrics.f1_score(
        labels, predicted, average="macro", zero_division=0))
