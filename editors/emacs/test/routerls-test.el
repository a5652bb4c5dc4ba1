;;; routerls-test.el --- batch test of routerls.el with eglot  -*- lexical-binding: t; -*-
;; Run by tests/editors/test_editor_emacs.py:
;;   emacs --batch -Q -l editors/emacs/test/routerls-test.el
;; Env: ROUTERLS_TEST_CMD (the server command as JSON), ROUTERLS_TEST_FILE (a python file),
;; ROUTERLS_TEST_EXPECTED (its text after the action), ROUTERLS_TEST_OUT (results as JSON).

(require 'package)
;; Debian's elpa-eglot lives in the system package dir, which -Q leaves out
(add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
(package-initialize)
(require 'json)
(require 'seq)

(defvar routerls-test--out nil)
(defvar routerls-test--seen nil)

(defun routerls-test--finish (code)
  (with-temp-file (getenv "ROUTERLS_TEST_OUT")
    (insert (json-encode routerls-test--out)))
  (kill-emacs code))

(defun routerls-test--wait (pred seconds)
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall pred)))

(defun routerls-test--put (key value)
  (setq routerls-test--out (append routerls-test--out (list (cons key value)))))

(defun routerls-test--main ()
  (setq routerls-command (append (json-read-from-string (getenv "ROUTERLS_TEST_CMD")) nil))
  (load (expand-file-name "../routerls.el" (file-name-directory load-file-name)))
  (setq eglot-confirm-server-initiated-edits nil)
  (routerls-test--put 'eglot (if (boundp 'eglot--version) eglot--version "?"))
  (find-file (getenv "ROUTERLS_TEST_FILE"))
  (cl-assert (eq major-mode 'python-mode))
  (apply #'eglot (eglot--guess-contact))
  (cl-assert (routerls-test--wait (lambda () (plist-get routerls--state :spend-loaded)) 30)
             nil "no routerls/spend answer")
  (routerls-test--put 'modeline_start (routerls-mode-line))
  (advice-add 'force-mode-line-update :before
              (lambda (&rest _) (push (routerls-mode-line) routerls-test--seen)))
  ;; lines 4-5, chosen through eglot's own menu (completing-read in a terminal)
  (goto-char (point-min))
  (forward-line 3)
  (push-mark (point) t t)
  (forward-line 2)
  (let ((titles nil)
        (last-nonmenu-event 13))
    (cl-letf (((symbol-function 'completing-read)
               (lambda (_prompt items &rest _)
                 (setq titles (mapcar #'car items))
                 (car (seq-find (lambda (i) (string-prefix-p "AI: Refactor" (car i))) items)))))
      (eglot-code-actions (region-beginning) (region-end) nil t))
    (routerls-test--put 'titles (vconcat titles)))
  (cl-assert (routerls-test--wait
              (lambda () (and (equal (buffer-string) (getenv "ROUTERLS_TEST_EXPECTED"))
                              (plist-get routerls--state :last)))
              40)
             nil "the edit did not arrive")
  (save-buffer)
  (routerls-test--put 'text (buffer-string))
  (routerls-test--put 'modelines (vconcat (reverse routerls-test--seen)))
  (routerls-test--put 'modeline_done (routerls-mode-line))
  ;; M-x routerls-report-html: the file written, and handed to the opener (the browser's stand-in)
  (let ((routerls-report-html-file (getenv "ROUTERLS_TEST_HTML"))
        (routerls-open-html-function (lambda (file) (routerls-test--put 'html_opened file))))
    (call-interactively #'routerls-report-html))
  (routerls-test--finish 0))

(condition-case err
    (routerls-test--main)
  (error
   (routerls-test--put 'error (format "%S" err))
   (routerls-test--finish 1)))
