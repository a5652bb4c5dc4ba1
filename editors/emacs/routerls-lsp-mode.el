;;; routerls-lsp-mode.el --- routerls beside your usual server, with lsp-mode  -*- lexical-binding: t; -*-

;; Untested in CI (the eglot setup in routerls.el is the tested one). lsp-mode runs routerls as an
;; add-on next to pyright, gopls & co.; `lsp-execute-code-action' (s-l a a) lists the AI actions.
;;   (add-to-list 'load-path "/path/to/routerls/editors/emacs")
;;   (require 'routerls-lsp-mode)

;;; Code:

(require 'lsp-mode)

(defcustom routerls-lsp-settings nil
  "The routerls config section as a plist, like `.routerls.yaml'."
  :type 'sexp :group 'tools)

(defvar routerls-lsp--spend "AI"
  "Mode-line text: today's and this session's spend, from `$/routerls/status'.")

(defun routerls-lsp--usd (x)
  "X dollars in routerls' one money format (routerls/money.py, as `routerls-usd')."
  (let* ((x (if (numberp x) x 0))
         (text (format (if (>= (/ (fround (* (abs x) 1e4)) 1e4) 1) "%.2f" "%.4f") (abs x))))
    (concat (if (and (< x 0) (string-match-p "[1-9]" text)) "-$" "$") text)))

(defun routerls-lsp--status (_workspace params)
  (setq routerls-lsp--spend
        (if (equal (gethash "state" params) "running")
            (format "AI … %s" (gethash "model" params))
          (format "AI %s today · %s session" (routerls-lsp--usd (gethash "todayCostUsd" params))
                  (routerls-lsp--usd (gethash "sessionCostUsd" params)))))
  (force-mode-line-update t))

(lsp-register-client
 (make-lsp-client
  :new-connection (lsp-stdio-connection '("routerls" "serve"))
  :activation-fn (lsp-activate-on "python" "javascript" "typescript" "go" "rust" "c" "cpp")
  :server-id 'routerls
  :add-on? t
  :initialization-options (lambda () (list :routerls (or routerls-lsp-settings (make-hash-table))))
  :notification-handlers (ht ("$/routerls/status" #'routerls-lsp--status))))

(add-to-list 'global-mode-string '(:eval (concat " " routerls-lsp--spend)) t)

(provide 'routerls-lsp-mode)
;;; routerls-lsp-mode.el ends here
