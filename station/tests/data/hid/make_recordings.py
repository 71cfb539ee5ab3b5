#!/usr/bin/env python3
"""Writes the keyboard-wedge recordings in this folder, in `evtest`'s output format.

No USB HID scanner was at hand, so these are not captures: they are what evtest prints for a
US-layout keyboard-wedge scanner typing each code, built from the HID usage table (the MSC_SCAN
values) and linux/input-event-codes.h (the key codes), with a scanner's typical 2 ms per key.
Re-run to regenerate; replace them with real captures (`evtest /dev/input/by-id/... > x.evtest`)
when a scanner is available.
"""

KEYS = {  # character -> (key name, key code, HID usage, shift)
    **{c: (f"KEY_{c.upper()}", code, 0x70004 + i, False)
       for i, (c, code) in enumerate(zip("abcdefghijklmnopqrstuvwxyz",
                                         [30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50,
                                          49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44]))},
    **{c: (f"KEY_{c}", 2 + i, 0x7001e + i, False) for i, c in enumerate("123456789")},
    "0": ("KEY_0", 11, 0x70027, False),
    "\r": ("KEY_ENTER", 28, 0x70028, False),
    "\t": ("KEY_TAB", 15, 0x7002b, False),
    " ": ("KEY_SPACE", 57, 0x7002c, False),
    "-": ("KEY_MINUS", 12, 0x7002d, False),
    "=": ("KEY_EQUAL", 13, 0x7002e, False),
    "]": ("KEY_RIGHTBRACE", 27, 0x70030, False),
    ";": ("KEY_SEMICOLON", 39, 0x70033, False),
    ".": ("KEY_DOT", 52, 0x70037, False),
    "/": ("KEY_SLASH", 53, 0x70038, False),
}
for c, (name, code, usage, _) in list(KEYS.items()):
    if c.isalpha():
        KEYS[c.upper()] = (name, code, usage, True)
KEYS[":"] = ("KEY_SEMICOLON", 39, 0x70033, True)
KEYS["_"] = ("KEY_MINUS", 12, 0x7002d, True)
KEYPAD = {c: (f"KEY_KP{c}", code, usage, False) for c, code, usage in
          zip("1234567890", [79, 80, 81, 75, 76, 77, 71, 72, 73, 82], range(0x70059, 0x70063))}
KEYPAD["\r"] = ("KEY_KPENTER", 96, 0x70058, False)
SHIFT = ("KEY_LEFTSHIFT", 42, 0x700e1)
ALT = ("KEY_LEFTALT", 56, 0x700e2)
CAPS = ("KEY_CAPSLOCK", 58, 0x70039)


class Recording:
    def __init__(self):
        self.t = 1763769600.0
        self.lines = []

    def _event(self, type_, type_name, code, code_name, value):
        self.lines.append(f"Event: time {self.t:.6f}, type {type_} ({type_name}), "
                          f"code {code} ({code_name}), value {value}")

    def key(self, name, code, usage, value):
        self._event(4, "EV_MSC", 4, "MSC_SCAN", f"{usage:x}")
        self._event(1, "EV_KEY", code, name, value)
        self.lines.append(f"Event: time {self.t:.6f}, -------------- SYN_REPORT ------------")
        self.t += 0.001

    def tap(self, name, code, usage):
        self.key(name, code, usage, 1)
        self.key(name, code, usage, 0)

    def type(self, text, table=KEYS):
        for c in text:
            name, code, usage, shift = table[c]
            if shift:
                self.key(*SHIFT, 1)
            self.tap(name, code, usage)
            if shift:
                self.key(*SHIFT, 0)

    def alt_numpad(self, digits):
        """Alt held while typing a decimal character code on the keypad (a scanner's 'Alt mode'
        for characters outside ASCII)."""
        self.key(*ALT, 1)
        for d in digits:
            self.tap(*KEYPAD[d][:3])
        self.key(*ALT, 0)

    def write(self, path, comment):
        with open(path, "w") as f:
            f.write(f"# {comment}\n")
            f.write("\n".join(self.lines) + "\n")


r = Recording()
r.type("URNA1:GWU2-2223-X:1763769600:0A1B2C3D:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPI\r")
r.write("receipt.evtest", "a resident's receipt QR, uppercase with Shift, colons, Enter")

r = Recording()
r.type("]Q1GKM.6220.15.2026\r")
r.write("aim-reference.evtest", "a form's case reference behind the AIM identifier ]Q1 (QR)")

r = Recording()
r.type("40512", KEYPAD)
r.type("\r", KEYPAD)
r.write("keypad.evtest", "digits and Enter from the keypad (scanner in keypad mode)")

r = Recording()
r.tap(*CAPS)
r.type("gwu2-2223-x\r")
r.tap(*CAPS)
r.write("caps-lock.evtest", "the scanner presses Caps Lock itself around a code")

r = Recording()
r.type("Wniosek ")
r.alt_numpad("0163")  # Ł in Windows-1250
r.type("odz\r")
r.type("GWU2-2223-X\r")
r.write("alt-numpad.evtest", "a code with a non-ASCII letter sent as Alt+keypad, then a good one")

r = Recording()
r.type("GWU2-22")
r.write("unplugged-mid-code.evtest", "the cable is pulled half-way through a code")
