/* The phone menu and the "On this page" contents open when tapped.
 *
 * pydata-sphinx-theme binds its sidebar dialogs to the first `.primary-toggle` and
 * `.secondary-toggle` of a page only, and sphinx-book-theme puts the buttons that a phone
 * shows in the article header, after the theme's own, hidden ones: with some pairs of
 * versions (reported with sphinx-book-theme 1.1) tapping them does nothing. On a narrow screen,
 * a tap on a later button that left its dialog closed now clicks the first button, which
 * holds the theme's handler. Where the themes already open the dialog, this does nothing.
 * Checked by tests/test_browser.py::test_phone_menu_and_contents_open.
 */
(function () {
  const NARROW = "(max-width: 991.98px)";
  function forward(selector, dialogId) {
    const buttons = Array.from(document.querySelectorAll(selector));
    const bound = buttons[0];
    buttons.slice(1).forEach((button) => {
      button.addEventListener("click", () => {
        const dialog = document.getElementById(dialogId);
        if (!window.matchMedia(NARROW).matches || !dialog) return;
        window.setTimeout(() => {
          if (!dialog.open) bound.click();
        }, 0);
      });
    });
  }
  function setup() {
    forward(".primary-toggle", "pst-primary-sidebar-modal");
    forward(".secondary-toggle", "pst-secondary-sidebar-modal");
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
