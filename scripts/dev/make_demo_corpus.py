#!/usr/bin/env python3
"""Write corpora/demo-sentiment/{train,test}.csv: a small, synthetic sentiment corpus, and
corpora/demo-reviews/{train,valid,test}.csv: a larger and harder one for the quick start.

The sentences are built from hand-written templates and word lists about films, books,
restaurants, products and hotels, so the corpus is ours to ship and small enough for a demo.
It is a demo only: a classifier trained on it shows the pipeline working, nothing more.
The output is deterministic (fixed seed), so rerunning the script reproduces the files.
"""
import csv
import os
import random

CORPORA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "corpora")
SUBJECTS = {
    "film": ["the film", "this movie", "the sequel", "the documentary", "the director's new film"],
    "book": ["the book", "this novel", "the memoir", "the new thriller", "the short story collection"],
    "food": ["the restaurant", "this cafe", "the pasta", "the tasting menu", "the bakery on the corner"],
    "product": ["the phone", "this laptop", "the headphones", "the vacuum cleaner", "the coffee maker"],
    "hotel": ["the hotel", "our room", "the staff", "the front desk", "the breakfast buffet"],
}
POSITIVE = ["wonderful", "delightful", "excellent", "charming", "superb", "moving", "brilliant",
            "lovely", "impressive", "fantastic", "warm", "memorable", "reliable", "gorgeous"]
NEGATIVE = ["awful", "dull", "terrible", "disappointing", "boring", "clumsy", "mediocre",
            "tedious", "unpleasant", "broken", "rude", "forgettable", "overpriced", "bland"]
POS_TAILS = ["and I would gladly go back", "and I recommend it to everyone", "from start to finish",
             "and worth every penny", "beyond what I expected", "and it made my day",
             "and I loved every minute", "and we will return soon"]
NEG_TAILS = ["and I want my money back", "and I would not recommend it", "from start to finish",
             "and a waste of time", "far below what I expected", "and it ruined my evening",
             "and I regret it", "and we will not return"]
TEMPLATES = ["{s} was {a} {t}.", "Honestly, {s} is {a}, {t}.", "I found {s} {a} {t}.",
             "{S} felt {a} and {a2}.", "What a {a} experience: {s} was {a2}.",
             "{S} is really {a}!", "{S}? {A}, {t}."]


def sentence(rng, positive):
    kind = rng.choice(sorted(SUBJECTS))
    s = rng.choice(SUBJECTS[kind])
    words = POSITIVE if positive else NEGATIVE
    a, a2 = rng.sample(words, 2)
    t = rng.choice(POS_TAILS if positive else NEG_TAILS)
    text = rng.choice(TEMPLATES).format(s=s, S=s[0].upper() + s[1:], a=a, a2=a2,
                                         A=a[0].upper() + a[1:], t=t)
    return text


def write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["text", "label"])
        w.writerows(rows)


def main():
    rng = random.Random(20261128)
    out = os.path.join(CORPORA, "demo-sentiment")
    os.makedirs(out, exist_ok=True)
    seen = set()
    rows = []
    while len(rows) < 400:
        positive = len(rows) % 2 == 0
        text = sentence(rng, positive)
        if text in seen:
            continue
        seen.add(text)
        rows.append((text, "positive" if positive else "negative"))
    rng.shuffle(rows)
    write(os.path.join(out, "train.csv"), rows[:300])
    write(os.path.join(out, "test.csv"), rows[300:])


# demo-reviews: more rows, and sentences whose label is not given by one word. A "but" clause
# decides ("the staff was rude, but the room was lovely" is positive), a negated adjective
# turns ("the pasta was not bad" is positive), and the test split uses adjectives that occur
# in no training or validation row, so only features that know those words score there.
HELD_OUT_POSITIVE = ["splendid", "stunning", "flawless", "heartfelt"]
HELD_OUT_NEGATIVE = ["dreadful", "shoddy", "lifeless", "grating"]
MILD_NEGATIONS = {True: ["bad", "awful", "boring", "disappointing"],   # "not bad": positive
                  False: ["great", "good", "impressive", "memorable"]}  # "not great": negative


def review(rng, positive, held_out):
    kind = rng.choice(sorted(SUBJECTS))
    s, s2 = rng.sample(SUBJECTS[kind], 2)
    pos = HELD_OUT_POSITIVE if held_out else POSITIVE
    neg = HELD_OUT_NEGATIVE if held_out else NEGATIVE
    a = rng.choice(pos if positive else neg)
    other = rng.choice(neg if positive else pos)
    t = rng.choice(POS_TAILS if positive else NEG_TAILS)
    form = rng.randrange(4)
    if form == 0:
        return rng.choice(TEMPLATES).format(s=s, S=s[0].upper() + s[1:], a=a,
                                            a2=rng.choice(pos if positive else neg),
                                            A=a[0].upper() + a[1:], t=t)
    if form == 1:
        return f"{s2[0].upper() + s2[1:]} was {other}, but {s} was {a}."
    if form == 2:
        return f"I expected {s} to be {other}, and it was {a} {t}."
    return f"{s[0].upper() + s[1:]} was not {rng.choice(MILD_NEGATIONS[positive])}, {t}."


def reviews():
    rng = random.Random(20261207)
    out = os.path.join(CORPORA, "demo-reviews")
    os.makedirs(out, exist_ok=True)
    seen = set()
    splits = {"train": 1600, "valid": 400, "test": 400}
    for name, n in splits.items():
        rows = []
        while len(rows) < n:
            positive = len(rows) % 2 == 0
            text = review(rng, positive, held_out=name == "test" and len(rows) % 4 < 2)
            if text in seen:
                continue
            seen.add(text)
            rows.append((text, "positive" if positive else "negative"))
        rng.shuffle(rows)
        write(os.path.join(out, name + ".csv"), rows)


if __name__ == "__main__":
    main()
    reviews()
