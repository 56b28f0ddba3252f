"""The emulator framework shared by every broker emulator; see ``brokerlink.emulators``."""
