"""Unit tests of the pure normalisation and similarity functions."""

import unittest

import normalize


class FoldAndClean(unittest.TestCase):
    def test_accents_case_and_punctuation_fold_away(self):
        self.assertEqual(normalize.fold("  José   GARCÍA "), "jose garcia")
        self.assertEqual(normalize.fold("Jean-Luc O'Brien"), "jean luc obrien")
        self.assertEqual(normalize.fold("Søren Straße"), "soren strasse")
        self.assertEqual(normalize.fold("Łukasz Æbelø"), "lukasz aebelo")

    def test_clip_never_cuts_a_character(self):
        self.assertEqual(normalize.clip("ab李", 4), "ab")
        self.assertEqual(normalize.clip("ab李", 5), "ab李")

    def test_display_form_keeps_case_and_accents(self):
        self.assertEqual(normalize.clean("  José \t García "), "José García")


class Email(unittest.TestCase):
    def test_lowercased_and_trimmed(self):
        self.assertEqual(normalize.email("  Ana.Lima@ACME.io "), "ana.lima@acme.io")

    def test_gmail_drops_dots_and_plus_tags(self):
        self.assertEqual(normalize.email("J.O.E+crm@GoogleMail.com"), "joe@gmail.com")
        self.assertEqual(normalize.email("joe+x@gmail.com"), normalize.email("j.oe@gmail.com"))

    def test_other_providers_keep_dots_and_tags(self):
        self.assertEqual(normalize.email("j.oe+x@acme.io"), "j.oe+x@acme.io")

    def test_malformed_addresses_are_refused(self):
        too_long = "a" * 250 + "@acme.io"
        for bad in ["ana", "ana@", "@acme.io", "ana@acme", "ana lima@acme.io", "a@b@c.io", "+@gmail.com", too_long]:
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                normalize.email(bad)


class Phone(unittest.TestCase):
    def test_national_numbers_get_the_default_country_code(self):
        self.assertEqual(normalize.phone("(555) 123-4567", "1"), "+15551234567")
        self.assertEqual(normalize.phone("1-555-123-4567", "1"), "+15551234567")
        self.assertEqual(normalize.phone("030 1234567", "49"), "+49301234567")

    def test_international_forms_keep_their_own_country_code(self):
        self.assertEqual(normalize.phone("+44 20 7946 0958", "1"), "+442079460958")
        self.assertEqual(normalize.phone("0044 20 7946 0958", "1"), "+442079460958")

    def test_extensions_are_dropped(self):
        self.assertEqual(normalize.phone("555.123.4567 ext. 89", "1"), "+15551234567")
        self.assertEqual(normalize.phone("555-123-4567 x12", "1"), "+15551234567")

    def test_letters_and_wrong_lengths_are_refused(self):
        for bad in ["call me", "555-CALL-NOW", "12345", "+1234567890123456"]:
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                normalize.phone(bad, "1")


class Company(unittest.TestCase):
    def test_legal_forms_and_articles_do_not_count(self):
        key = normalize.company_key("Acme")
        for same in ["ACME, Inc.", "The Acme Company", "acme llc", "Acme Corp."]:
            with self.subTest(same=same):
                self.assertEqual(normalize.company_key(same), key)
        self.assertNotEqual(normalize.company_key("Acme Labs"), key)
        self.assertEqual(normalize.company_key("Inc."), "inc")

    def test_ampersand_reads_as_and(self):
        self.assertEqual(normalize.company_key("Smith & Sons"), normalize.company_key("Smith and Sons"))


class Similarity(unittest.TestCase):
    def test_jaro_winkler_reference_values(self):
        # The classic pairs from Winkler's paper.
        self.assertAlmostEqual(normalize.jaro_winkler("martha", "marhta"), 0.961, places=3)
        self.assertAlmostEqual(normalize.jaro_winkler("dwayne", "duane"), 0.84, places=2)
        self.assertAlmostEqual(normalize.jaro_winkler("dixon", "dicksonx"), 0.813, places=3)
        self.assertEqual(normalize.jaro_winkler("abc", "abc"), 1.0)
        self.assertEqual(normalize.jaro_winkler("abc", "xyz"), 0.0)
        self.assertEqual(normalize.jaro_winkler("", "abc"), 0.0)

    def test_name_similarity_separates_typos_from_other_people(self):
        same = normalize.name_similarity("jon", "smith", "john", "smith")
        typo = normalize.name_similarity("john", "smyth", "john", "smith")
        other = normalize.name_similarity("jane", "smith", "john", "smith")
        self.assertGreater(same, 0.9)
        self.assertGreater(typo, 0.85)
        self.assertLess(other, 0.75)

    def test_nicknames_initials_and_swapped_order(self):
        self.assertGreaterEqual(normalize.name_similarity("bob", "jones", "robert", "jones"), 0.95)
        self.assertEqual(normalize.name_similarity("j", "jones", "john", "jones"), normalize.INITIAL_SIMILARITY)
        self.assertEqual(normalize.name_similarity("k", "jones", "john", "jones"), 0.0)
        self.assertEqual(normalize.name_similarity("smith", "john", "john", "smith"), 1.0)
        self.assertEqual(normalize.name_similarity("john", "", "john", "smith"), 0.0)
        self.assertEqual(normalize.name_similarity("", "smith", "john", "smith"), normalize.MISSING_FIRST_NAME)

    def test_soundex(self):
        self.assertEqual(normalize.soundex("robert"), "R163")
        self.assertEqual(normalize.soundex("rupert"), "R163")
        self.assertEqual(normalize.soundex("smith"), normalize.soundex("smyth"))
        self.assertEqual(normalize.soundex("ashcraft"), "A261")
        self.assertEqual(normalize.soundex("tymczak"), "T522")
        self.assertEqual(normalize.soundex("lee"), "L000")
        self.assertIsNone(normalize.soundex("李"))


if __name__ == "__main__":
    unittest.main()
