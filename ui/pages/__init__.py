"""The pages of the main window and the onboarding wizard."""
