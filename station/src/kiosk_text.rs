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

/// Collection: the badge was read; its PIN on the keypad.
pub fn service_pin() -> Said {
    Said::new(
        "Odbiór z urny. Wpisz PIN na klawiaturze.",
        "Collection from the urn. Type the PIN on the keypad.",
        "Вилучення з урни. Введіть PIN на клавіатурі.",
    )
}

/// Collection: the second person's badge.
pub fn service_second_badge() -> Said {
    Said::new(
        "Odbiór wymaga dwóch osób. Druga osoba: zeskanuj swoją kartę.",
        "A collection needs two people. Second person: scan your badge.",
        "Вилучення потребує двох осіб. Друга особа: відскануйте свою картку.",
    )
}

/// Collection: the same badge twice.
pub fn service_other_person() -> Said {
    Said::new(
        "To ta sama karta. Kartę musi zeskanować druga osoba.",
        "That is the same badge. A second person must scan theirs.",
        "Це та сама картка. Свою картку має відсканувати інша особа.",
    )
}

/// Collection: the seal's number.
pub fn service_seal() -> Said {
    Said::new(
        "Zeskanuj albo wpisz numer plomby na worku.",
        "Scan or type the number of the seal on the bag.",
        "Відскануйте або введіть номер пломби на мішку.",
    )
}

/// Collection: a seal number that cannot be one.
pub fn service_bad_seal() -> Said {
    Said::new(
        "To nie jest numer plomby (litery, cyfry i „-”, do 32 znaków). Spróbuj ponownie.",
        "That is not a seal number (letters, digits and '-', up to 32). Try again.",
        "Це не номер пломби (літери, цифри та «-», до 32 знаків). Спробуйте ще раз.",
    )
}

/// Collection: open the door.
pub fn service_open_door() -> Said {
    Said::new(
        "Otwórz drzwi urny i przełóż koperty do worka.",
        "Open the urn's door and move the envelopes into the bag.",
        "Відчиніть дверцята урни й перекладіть конверти до мішка.",
    )
}

/// Collection: the door is open.
pub fn service_door_open(envelopes: u32) -> Said {
    Said::new(
        format!("Kopert w urnie od ostatniego odbioru: {envelopes}. Po przełożeniu zamknij drzwi."),
        format!(
            "Envelopes in the urn since the last collection: {envelopes}. Close the door when done."
        ),
        format!(
            "Конвертів в урні від останнього вилучення: {envelopes}. Після перекладання зачиніть дверцята."
        ),
    )
}

/// Collection recorded.
pub fn service_collected(envelopes: u32, seal: &str) -> Said {
    Said::new(
        format!("Odbiór zapisany. Kopert: {envelopes}, plomba {seal}. Dziękujemy."),
        format!("Collection recorded. Envelopes: {envelopes}, seal {seal}. Thank you."),
        format!("Вилучення записано. Конвертів: {envelopes}, пломба {seal}. Дякуємо."),
    )
}

/// Collection abandoned after the timeout.
pub fn service_abandoned() -> Said {
    Said::new(
        "Odbiór przerwany: zbyt długo bez działania.",
        "Collection abandoned: nothing happened for too long.",
        "Вилучення перервано: надто довго без дій.",
    )
}

/// Collection cancelled on the screen.
pub fn service_cancelled() -> Said {
    Said::new(
        "Odbiór anulowany.",
        "Collection cancelled.",
        "Вилучення скасовано.",
    )
}

/// Sign-in is unavailable (no staff file).
pub fn service_unavailable() -> Said {
    Said::new(
        "Logowanie niedostępne — wezwij administratora.",
        "Sign-in unavailable — call the administrator.",
        "Вхід недоступний — зверніться до адміністратора.",
    )
}

/// A wrong PIN.
pub fn wrong_pin(attempts_left: u32) -> Said {
    Said::new(
        format!("Zły PIN. Pozostało prób: {attempts_left}."),
        format!("Wrong PIN. Tries left: {attempts_left}."),
        format!("Неправильний PIN. Залишилось спроб: {attempts_left}."),
    )
}

/// Too many wrong PINs.
pub fn badge_locked() -> Said {
    Said::new(
        "Za dużo błędnych PIN-ów. Karta jest zablokowana.",
        "Too many wrong PINs. The badge is locked.",
        "Забагато неправильних PIN-кодів. Картку заблоковано.",
    )
}

/// An unknown or disabled badge.
pub fn badge_not_allowed() -> Said {
    Said::new(
        "Ta karta nie może się tu zalogować.",
        "This badge cannot sign in here.",
        "Ця картка не може тут увійти.",
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
            damaged_urna_code(),
            damaged_badge(),
            unreadable_code(),
            printer_out_of_order(),
            urn_full(),
            storage_out_of_order(),
            service_pin(),
            service_second_badge(),
            service_other_person(),
            service_seal(),
            service_bad_seal(),
            service_open_door(),
            service_door_open(12),
            service_collected(12, "PL-1"),
            service_abandoned(),
            service_cancelled(),
            service_unavailable(),
            wrong_pin(2),
            badge_locked(),
            badge_not_allowed(),
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
