#!/usr/bin/env python3
"""Write corpora/demo-sentiment/{train,test}.csv: a small, synthetic sentiment corpus.

The sentences are built from hand-written templates and word lists about films, books,
restaurants, products and hotels, so the corpus is ours to ship and small enough for a demo.
It is a demo only: a classifier trained on it shows the pipeline working, nothing more.
The output is deterministic (fixed seed), so rerunning the script reproduces the files.
"""
import csv
import os
import random

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
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpora", "demo-sentiment")
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


if __name__ == "__main__":
    main()
