//! What the urn kiosk says to a resident, in Polish, English and Ukrainian. Kept in one place so
//! that a translator reads every sentence side by side, and no screen can miss a language.

use serde::Serialize;

/// One message in the three languages the kiosk speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Said {
    /// Polish, shown first.
    pub pl: String,
    /// English.
    pub en: String,
    /// Ukrainian.
    pub uk: String,
}

impl Said {
    fn new(pl: impl Into<String>, en: impl Into<String>, uk: impl Into<String>) -> Said {
        Said {
            pl: pl.into(),
            en: en.into(),
            uk: uk.into(),
        }
    }
}

/// The start screen's prompt.
pub fn start() -> Said {
    Said::new(
        "Zeskanuj kod z formularza albo naciśnij przycisk",
        "Scan the code on your form, or press the button",
        "Відскануйте код із формуляра або натисніть кнопку",
    )
}

/// Choosing what the letter is about.
pub fn choose() -> Said {
    Said::new(
        "Czego dotyczy pismo? Wybierz albo naciśnij przycisk (inne).",
        "What is the letter about? Choose, or press the button (other).",
        "Чого стосується лист? Виберіть або натисніть кнопку (інше).",
    )
}

/// Label and receipt printed: drop the envelope.
pub fn drop_now() -> Said {
    Said::new(
        "Naklej etykietę na kopertę i wrzuć ją do otworu. Zabierz potwierdzenie.",
        "Stick the label on the envelope and drop it into the slot. Keep your receipt.",
        "Наклейте етикетку на конверт і вкиньте його в отвір. Заберіть підтвердження.",
    )
}

/// The deposit is recorded but the printer failed half-way.
pub fn printed_nothing(intake: &str) -> Said {
    Said::new(
        format!(
            "Przesyłka zarejestrowana jako {intake}, ale drukarka zawiodła. Zapisz ten numer i wrzuć kopertę; obsługa została powiadomiona."
        ),
        format!(
            "Your letter is registered as {intake}, but the printer failed. Note this number and drop the envelope; the staff have been told."
        ),
        format!(
            "Лист зареєстровано під номером {intake}, але принтер не спрацював. Запишіть цей номер і вкиньте конверт; персонал уже повідомлено."
        ),
    )
}

/// The envelope fell through the slot.
pub fn thanks() -> Said {
    Said::new(
        "Dziękujemy. Przesyłka jest w urnie. Zachowaj potwierdzenie.",
        "Thank you. Your letter is in the urn. Keep your receipt.",
        "Дякуємо. Ваш лист в урні. Збережіть підтвердження.",
    )
}

/// A second envelope went in on the same label.
pub fn one_label_per_envelope() -> Said {
    Said::new(
        "Do urny wpadła więcej niż jedna koperta na jedną etykietę. Każda koperta potrzebuje własnej etykiety: przy następnych kopertach naciśnij przycisk, by wziąć etykietę dla każdej.",
        "More than one envelope went in on one label. Each envelope needs its own label: for further envelopes, press the button to take a label for each.",
        "До урни потрапило більше одного конверта на одну етикетку. Кожен конверт потребує власної етикетки: для наступних конвертів натисніть кнопку, щоб отримати етикетку для кожного.",
    )
}

/// The slot did not see the envelope in time.
pub fn drop_not_seen() -> Said {
    Said::new(
        "Nie zauważyliśmy koperty w otworze. Jeśli koperta jest jeszcze u Ciebie, wrzuć ją teraz. W razie wątpliwości zgłoś się z potwierdzeniem do biura podawczego.",
        "We did not see the envelope go in. If you still have it, drop it into the slot now. If in doubt, take your receipt to the front office.",
        "Ми не побачили, як конверт потрапив в отвір. Якщо конверт ще у вас, вкиньте його зараз. У разі сумнівів зверніться з підтвердженням до канцелярії.",
    )
}

/// An urna label or receipt was scanned where a form's code was expected.
pub fn urna_code_scanned(status_url: &str) -> Said {
    Said::new(
        format!(
            "To jest kod urny, nie formularza. Status przesyłki sprawdzisz na stronie {status_url}."
        ),
        format!("That is an urna code, not a form. Check the letter's status at {status_url}."),
        format!(
            "Це код урни, а не формуляра. Статус листа можна перевірити на сторінці {status_url}."
        ),
    )
}

/// A staff badge was scanned at the kiosk.
pub fn staff_badge() -> Said {
    Said::new(
        "Karta pracownika: obsługa urny odbywa się w kancelarii.",
        "Staff badge: the urn is serviced from the mailroom.",
        "Картка працівника: урну обслуговують із канцелярії.",
    )
}

/// A code from a damaged urna label or receipt.
pub fn damaged_urna_code() -> Said {
    Said::new(
        "Kod urny jest uszkodzony lub źle odczytany. Spróbuj ponownie.",
        "The urna code is damaged or was misread. Try again.",
        "Код урни пошкоджений або неправильно зчитаний. Спробуйте ще раз.",
    )
}

/// A staff badge that could not be read.
pub fn damaged_badge() -> Said {
    Said::new(
        "Nie można odczytać karty pracownika.",
        "The staff badge could not be read.",
        "Не вдається зчитати картку працівника.",
    )
}

/// Any other code the kiosk cannot use.
pub fn unreadable_code() -> Said {
    Said::new(
        "Nie udało się odczytać kodu. Spróbuj jeszcze raz albo naciśnij przycisk.",
        "The code could not be read. Try again, or press the button.",
        "Не вдалося зчитати код. Спробуйте ще раз або натисніть кнопку.",
    )
}

/// The printer cannot print a receipt: no deposits until it can.
pub fn printer_out_of_order() -> Said {
    Said::new(
        "Urna chwilowo nie przyjmuje przesyłek: nie możemy wydrukować potwierdzenia. Obsługa została powiadomiona. Pismo możesz złożyć w biurze podawczym.",
        "The urn cannot take letters right now: it cannot print your receipt. The staff have been told. You can hand in your letter at the front office.",
        "Урна тимчасово не приймає листи: ми не можемо надрукувати підтвердження. Персонал уже повідомлено. Лист можна подати в канцелярії.",
    )
}

/// The urn is at capacity: no deposits until it is collected.
pub fn urn_full() -> Said {
    Said::new(
        "Urna jest pełna i czeka na opróżnienie. Obsługa została powiadomiona. Pismo możesz złożyć w biurze podawczym.",
        "The urn is full and waiting to be emptied. The staff have been told. You can hand in your letter at the front office.",
        "Урна заповнена й чекає на спорожнення. Персонал уже повідомлено. Лист можна подати в канцелярії.",
    )
}

/// The custody log could not record the deposit.
pub fn storage_out_of_order() -> Said {
    Said::new(
        "Urna chwilowo nie działa. Prosimy skorzystać z biura podawczego.",
        "The urn is out of order. Please use the front office.",
        "Урна тимчасово не працює. Будь ласка, зверніться до канцелярії.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_all_three_languages_and_they_differ() {
        let all = [
            start(),
            choose(),
            drop_now(),
            printed_nothing("GWU2-4"),
            thanks(),
            one_label_per_envelope(),
            drop_not_seen(),
            urna_code_scanned("https://example.org"),
            staff_badge(),
            damaged_urna_code(),
            damaged_badge(),
            unreadable_code(),
            printer_out_of_order(),
            urn_full(),
            storage_out_of_order(),
        ];
        for said in all {
            for text in [&said.pl, &said.en, &said.uk] {
                assert!(!text.trim().is_empty(), "{said:?}");
            }
            assert_ne!(said.pl, said.en, "{said:?}");
            assert_ne!(said.en, said.uk, "{said:?}");
            // Ukrainian is written in Cyrillic; a copy of the English would not be.
            assert!(
                said.uk
                    .chars()
                    .any(|c| ('\u{0400}'..='\u{04FF}').contains(&c)),
                "{said:?}"
            );
        }
    }
}
