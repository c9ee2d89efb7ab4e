"""Unit tests of the step through the SDK's fake host: JSON in and out, kv state across calls."""

import unittest

import app
from alur_step import FakeHost, StepFailure


def contact(**fields):
    return {"contact": fields}


ANA = dict(first_name="Ana", last_name="Lima", email="Ana.Lima@Acme.io", phone="(555) 123-4567", company="Acme")


class DedupeTest(unittest.TestCase):
    def setUp(self):
        self.host = FakeHost()

    def run_step(self, **fields):
        return self.host.run(app.run, contact(**fields))

    def assert_error(self, code, payload, kind="invalid-input"):
        with self.assertRaises(StepFailure) as caught:
            self.host.run(app.run, payload)
        self.assertEqual((caught.exception.kind, caught.exception.code), (kind, code), caught.exception.message)
        return caught.exception

    def test_first_contact_is_created_normalised_and_indexed(self):
        out = self.run_step(**ANA)
        self.assertEqual(out["action"], "create")
        self.assertEqual(out["contact_id"], "c-000001")
        self.assertEqual(out["reasons"], ["no-match"])
        self.assertEqual(out["score"], 0.0)
        self.assertEqual(
            out["contact"],
            {
                "id": "c-000001", "first_name": "Ana", "last_name": "Lima", "email": "ana.lima@acme.io",
                "phone": "+15551234567", "company": "Acme", "emails": ["ana.lima@acme.io"],
                "phones": ["+15551234567"], "merge_count": 0,
            },
        )  # fmt: skip
        self.assertEqual(self.host.kv_json("contact:c-000001"), out["contact"])
        self.assertEqual(self.host.kv_json("idx:email:ana.lima@acme.io"), "c-000001")
        self.assertEqual(self.host.kv_json("idx:phone:+15551234567"), "c-000001")
        self.assertEqual(self.host.kv_json("idx:name:acme|L500"), ["c-000001"])
        self.assertEqual(self.host.kv_json("seq"), 1)

    def test_exact_email_match_merges_whatever_the_name(self):
        self.run_step(**ANA)
        out = self.run_step(first_name="A.", last_name="Lima-Souza", email=" ANA.LIMA@acme.IO ")
        self.assertEqual((out["action"], out["contact_id"], out["score"]), ("merge", "c-000001", 1.0))
        self.assertEqual(out["reasons"], ["email-match"])
        self.assertEqual(out["contact"]["merge_count"], 1)

    def test_gmail_variants_are_one_address(self):
        self.run_step(first_name="Joe", last_name="Doe", email="joe.doe@gmail.com")
        out = self.run_step(first_name="Joe", last_name="Doe", email="JoeDoe+newsletter@googlemail.com")
        self.assertEqual((out["action"], out["reasons"]), ("merge", ["email-match"]))

    def test_exact_phone_match_merges_in_any_notation(self):
        self.run_step(**ANA)
        out = self.run_step(first_name="Ana", email="ana@home.example", phone="+1 555 123 4567 ext. 9")
        self.assertEqual((out["action"], out["contact_id"], out["reasons"]), ("merge", "c-000001", ["phone-match"]))
        # The new address joins the contact's emails, and from now on finds it too.
        self.assertEqual(out["contact"]["emails"], ["ana.lima@acme.io", "ana@home.example"])
        self.assertEqual(out["contact"]["email"], "ana.lima@acme.io")
        again = self.run_step(email="ana@home.example")
        self.assertEqual((again["contact_id"], again["reasons"]), ("c-000001", ["email-match"]))

    def test_email_and_phone_of_two_contacts_merge_by_email(self):
        self.run_step(**ANA)
        self.run_step(first_name="Bo", last_name="Berg", email="bo@globex.io", phone="555 999 0000")
        out = self.run_step(email="bo@globex.io", phone="555-123-4567")
        self.assertEqual(out["contact_id"], "c-000002")
        self.assertEqual(out["reasons"], ["email-match", "phone-belongs-to c-000001"])
        # Ana keeps her number's index key.
        self.assertEqual(self.host.kv_json("idx:phone:+15551234567"), "c-000001")
        self.assertIn(("warn", "+15551234567 belongs to c-000001; merging into c-000002 by email"), self.host.logs)

    def test_fuzzy_name_at_the_same_company_merges(self):
        self.run_step(first_name="Jonathan", last_name="Smith", email="jsmith@acme.io", company="Acme Inc.")
        # A typo in the given name, the company written differently.
        out = self.run_step(first_name="Jonathon", last_name="Smith", phone="555 222 3333", company="ACME")
        self.assertEqual((out["action"], out["contact_id"], out["score"]), ("merge", "c-000001", 0.95))
        self.assertEqual(out["reasons"], ["name-similarity 0.950", "same-company"])
        self.assertEqual(out["contact"]["phone"], "+15552223333")
        # A family name spelt another way sounds the same, so it is in the same block, and close enough.
        out = self.run_step(first_name="Jonathan", last_name="Smyth", email="jon@acme.io", company="Acme")
        self.assertEqual((out["action"], out["contact_id"], out["score"]), ("merge", "c-000001", 0.8933))
        # Two typos at once fall below the default threshold.
        out = self.run_step(first_name="Jonathon", last_name="Smyth", email="js2@acme.io", company="Acme")
        self.assertEqual((out["action"], out["contact_id"]), ("create", "c-000002"))

    def test_similar_name_elsewhere_or_without_company_creates(self):
        self.run_step(first_name="John", last_name="Smith", email="john@acme.io", company="Acme")
        other_company = self.run_step(first_name="John", last_name="Smith", email="john@globex.io", company="Globex")
        no_company = self.run_step(first_name="John", last_name="Smith", email="john.smith@example.org")
        self.assertEqual([other_company["action"], no_company["action"]], ["create", "create"])
        self.assertEqual([other_company["contact_id"], no_company["contact_id"]], ["c-000002", "c-000003"])

    def test_different_person_same_family_below_threshold_creates(self):
        self.run_step(first_name="John", last_name="Smith", email="john@acme.io", company="Acme")
        out = self.run_step(first_name="Jane", last_name="Smith", email="jane@acme.io", company="Acme")
        self.assertEqual(out["action"], "create")
        self.assertTrue(out["reasons"][0].startswith("closest c-000001 name-similarity"), out["reasons"])
        self.assertLess(out["score"], 0.85)
        self.assertGreater(out["score"], 0.0)

    def test_threshold_comes_from_config(self):
        self.host.config_values["threshold"] = "0.6"
        self.run_step(first_name="John", last_name="Smith", email="john@acme.io", company="Acme")
        out = self.run_step(first_name="Jane", last_name="Smith", email="jane@acme.io", company="Acme")
        self.assertEqual(out["action"], "merge")

    def test_merge_fills_blanks_upgrades_initials_and_keeps_existing_values(self):
        self.run_step(first_name="J.", last_name="Doe", email="jd@acme.io", company="Acme")
        out = self.run_step(first_name="Jane", last_name="Dough", email="jd@acme.io", phone="555 444 1212", company="Initech")
        record = out["contact"]
        self.assertEqual(record["first_name"], "Jane")  # initial upgraded
        self.assertEqual(record["last_name"], "Doe")  # existing kept
        self.assertEqual(record["company"], "Acme")  # existing kept
        self.assertEqual(record["phone"], "+15554441212")  # blank filled
        self.assertEqual(record["phones"], ["+15554441212"])
        self.assertEqual(out["changes"], ["first_name", "phone", "phones"])
        self.assertEqual(self.host.kv_json("idx:phone:+15554441212"), "c-000001")

    def test_merge_of_the_same_data_changes_nothing_but_the_count(self):
        self.run_step(**ANA)
        out = self.run_step(**ANA)
        self.assertEqual(out["changes"], [])
        self.assertEqual(out["contact"]["merge_count"], 1)
        self.assertEqual(self.host.kv_json("seq"), 1)

    def test_ids_are_sequential_and_deterministic(self):
        ids = [self.run_step(email=f"p{i}@example.org")["contact_id"] for i in range(3)]
        self.assertEqual(ids, ["c-000001", "c-000002", "c-000003"])
        replay = FakeHost()
        self.assertEqual([replay.run(app.run, contact(email=f"p{i}@example.org"))["contact_id"] for i in range(3)], ids)
        self.assertEqual(replay.kv, self.host.kv)

    def test_default_country_code_from_config(self):
        self.host.config_values["default_country_code"] = "+49"
        out = self.run_step(phone="030 1234567")
        self.assertEqual(out["contact"]["phone"], "+49301234567")

    def test_invalid_inputs_are_step_errors_and_leave_no_state(self):
        self.assert_error("missing-contact", {"lead": {}})
        self.assert_error("missing-contact", {"contact": "ana@acme.io"})
        self.assert_error("missing-email-and-phone", contact(first_name="Ana", last_name="Lima"))
        self.assert_error("missing-email-and-phone", contact(email="  ", phone=""))
        self.assert_error("invalid-field", contact(email=["ana@acme.io"]))
        self.assert_error("invalid-email", contact(email="ana(at)acme.io"))
        self.assert_error("invalid-phone", contact(phone="call me maybe"))
        self.assert_error("field-too-long", contact(email="ana@acme.io", company="x" * 300))
        self.assert_error("invalid-input", "[1, 2]")
        self.assert_error("invalid-json", "{nope")
        self.assertEqual(self.host.kv, {})

    def test_keys_stay_within_the_host_limits_for_any_script(self):
        # 256 three-byte characters: 768 bytes of company, which the block key must clip.
        out = self.run_step(first_name="李", last_name="李" * 256, email="li@example.cn", company="公" * 256)
        self.assertEqual(out["action"], "create")
        (block,) = [k for k in self.host.kv if k.startswith("idx:name:")]
        self.assertLessEqual(len(block.encode()), 512)
        again = self.run_step(first_name="李", last_name="李" * 256, phone="+86 10 1234 5678", company="公" * 256)
        self.assertEqual((again["action"], again["score"]), ("merge", 1.0))

    def test_alternate_emails_are_capped(self):
        self.run_step(phone="555 000 1111")
        for i in range(app.MAX_ALTERNATES + 5):
            out = self.run_step(phone="555 000 1111", email=f"a{i}@example.org")
        self.assertEqual(len(out["contact"]["emails"]), app.MAX_ALTERNATES)
        self.assertEqual(out["contact"]["email"], "a0@example.org")

    def test_bad_config_is_an_internal_error(self):
        self.host.config_values["threshold"] = "high"
        self.assert_error("invalid-config", contact(**ANA), kind="internal")
        self.host.config_values["threshold"] = "1.5"
        self.assert_error("invalid-config", contact(**ANA), kind="internal")
        del self.host.config_values["threshold"]
        self.host.config_values["default_country_code"] = "one"
        self.assert_error("invalid-config", contact(**ANA), kind="internal")


if __name__ == "__main__":
    unittest.main()
