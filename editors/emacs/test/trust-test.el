;;; trust-test.el --- batch check: eglot's showMessageRequest carries routerls' trust action  -*- lexical-binding: t; -*-
;; Run by tests/editors/test_editor_trust.py:  emacs --batch -Q -l editors/emacs/test/trust-test.el
;; Env: ROUTERLS_TEST_CMD, ROUTERLS_TEST_FILE, ROUTERLS_TEST_OUT, ROUTERLS_TEST_STORE (trust.json).

(require 'package)
(add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
(package-initialize)
(require 'json)

(defvar trust-test--asked nil)

(defun trust-test--finish (code result)
  (with-temp-file (getenv "ROUTERLS_TEST_OUT")
    (insert (json-encode result)))
  (kill-emacs code))

(defun trust-test--main ()
  (setq routerls-command (append (json-read-from-string (getenv "ROUTERLS_TEST_CMD")) nil))
  (load (expand-file-name "../routerls.el" (file-name-directory load-file-name)))
  ;; the user picks the trust action from eglot's own prompt (completing-read in a terminal)
  (advice-add 'completing-read :around
              (lambda (_orig prompt collection &rest _)
                (setq trust-test--asked (cons prompt (append collection nil)))
                (seq-find (lambda (c) (string-prefix-p "Trust this workspace" c)) collection)))
  (find-file (getenv "ROUTERLS_TEST_FILE"))
  (apply #'eglot (eglot--guess-contact))
  (let ((deadline (+ (float-time) 40)))
    (while (and (not (file-exists-p (getenv "ROUTERLS_TEST_STORE"))) (< (float-time) deadline))
      (accept-process-output nil 0.1)))
  (cl-assert (file-exists-p (getenv "ROUTERLS_TEST_STORE")) nil "trust was never recorded")
  `((asked . ,trust-test--asked)))

(condition-case err
    (trust-test--finish 0 (trust-test--main))
  (error (trust-test--finish 1 `((error . ,(error-message-string err)) (asked . ,trust-test--asked)))))
