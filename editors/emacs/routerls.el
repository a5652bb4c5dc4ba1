;;; routerls.el --- routerls with eglot: AI code actions, spend in the mode line  -*- lexical-binding: t; -*-

;; Load it, then M-x eglot in a buffer of one of `routerls-modes':
;;   (add-to-list 'load-path "/path/to/routerls/editors/emacs")
;;   (require 'routerls)
;;   (setq routerls-settings '(:strategy "balanced"))      ; optional: the routerls config section
;;
;; C-c a a (`eglot-code-actions') lists "AI: Fix (mid · claude-haiku-4-5)" and the rest; the mode
;; line shows "AI $0.0045 today · $0.0045 session", or "AI … gpt-4o" while a model runs.
;; Works with eglot 1.9 (Debian's elpa-eglot) and later.

;;; Code:

(require 'cl-lib)
(require 'eglot)
(require 'jsonrpc)

(defgroup routerls nil "AI code actions on the cheapest capable model." :group 'tools)

(defcustom routerls-command '("routerls" "serve")
  "The server command."
  :type '(repeat string))

(defcustom routerls-modes '(python-mode js-mode typescript-mode go-mode rust-mode c-mode c++-mode sh-mode)
  "Major modes whose buffers `eglot' serves with routerls."
  :type '(repeat symbol))

(defcustom routerls-settings nil
  "The routerls config section as a plist, like `.routerls.yaml':
e.g. (:strategy \"cost\" :budgets (:daily_usd 1.0) :hover (:explain t))."
  :type 'sexp)

(defcustom routerls-request-timeout 120
  "Seconds eglot waits for `routerls.run' (it answers when the model is done)."
  :type 'integer)

(defclass eglot-routerls (eglot-lsp-server) ()
  :documentation "routerls: keeps the spend for the mode line.")

(cl-defmethod eglot-initialization-options ((_server eglot-routerls))
  (list :routerls (or routerls-settings (make-hash-table))))

(defvar routerls--state (list :today 0.0 :session 0.0 :running nil :last nil :daily nil)
  "What the mode line shows, from `routerls/spend' and every `$/routerls/status'.")

(defun routerls-usd (x)
  "X dollars in routerls' one money format: `$0.0042' below a dollar, `$1.23' from a
dollar up (chosen on the rounded value), `-$0.0030' when negative."
  (let* ((x (if (numberp x) x 0))
         (places (if (>= (/ (fround (* (abs x) 1e4)) 1e4) 1) 2 4))
         (text (format (format "%%.%df" places) (abs x))))
    (concat (if (and (< x 0) (string-match-p "[1-9]" text)) "-$" "$") text)))

(defun routerls-mode-line ()
  "The mode-line text: spend today and this session, or the model that is running."
  (let* ((today (plist-get routerls--state :today))
         (daily (plist-get routerls--state :daily))
         (mark (if (and (numberp daily) (> daily 0) (>= today (* 0.8 daily))) "AI!" "AI"))
         (running (plist-get routerls--state :running)))
    (if running
        (format "%s … %s · %s today" mark running (routerls-usd today))
      (format "%s %s today · %s session" mark (routerls-usd today)
              (routerls-usd (plist-get routerls--state :session))))))

(defvar routerls-mode-line-format '(:eval (when (routerls--servers) (concat " " (routerls-mode-line)))))
(put 'routerls-mode-line-format 'risky-local-variable t)

(defun routerls--servers ()
  (cl-loop for servers being the hash-values of eglot--servers-by-project
           append (cl-remove-if-not (lambda (s) (cl-typep s 'eglot-routerls)) servers)))

(cl-defmethod eglot-handle-notification
  ((_server eglot-routerls) (_method (eql $/routerls/status)) &rest params)
  "Keep the spend and the running model from a `$/routerls/status' notification."
  (let ((model (plist-get params :model)))
    (setq routerls--state
          (plist-put routerls--state :today (plist-get params :todayCostUsd)))
    (setq routerls--state (plist-put routerls--state :session (plist-get params :sessionCostUsd)))
    (setq routerls--state (plist-put routerls--state :running
                                     (and (equal (plist-get params :state) "running")
                                          (if (member model '(nil "")) (plist-get params :tier) model))))
    (unless (equal (plist-get params :state) "running")
      (setq routerls--state (plist-put routerls--state :last params))
      (when (equal (plist-get params :state) "error")
        (message "routerls: %s: %s" (plist-get params :action) (plist-get params :message)))))
  (force-mode-line-update t))

(defun routerls--load-spend (server)
  "Ask SERVER for today's and this session's spend, for the mode line at start-up."
  (when (cl-typep server 'eglot-routerls)
    (jsonrpc-async-request
     server :routerls/spend (make-hash-table)
     :success-fn (lambda (spend)
                   (setq routerls--state (plist-put routerls--state :today (plist-get spend :todayCostUsd)))
                   (setq routerls--state (plist-put routerls--state :session (plist-get spend :sessionCostUsd)))
                   (setq routerls--state (plist-put routerls--state :daily
                                                    (plist-get (plist-get spend :budget) :dailyUsd)))
                   (setq routerls--state (plist-put routerls--state :spend-loaded t))
                   (force-mode-line-update t)))))

(cl-defmethod eglot-execute-command ((server eglot-routerls) command arguments)
  "Run routerls commands with a timeout that leaves the model time to answer."
  (let ((jsonrpc-default-request-timeout routerls-request-timeout))
    (cl-call-next-method server command arguments)))

(defun routerls-report (&optional by)
  "Show the spend report (by model, or BY day, week or action) in a buffer."
  (interactive)
  (let* ((server (or (car (routerls--servers)) (user-error "routerls is not running")))
         (markdown (jsonrpc-request server :workspace/executeCommand
                                    `(:command "routerls.report" :arguments [(:by ,(or by "model"))]))))
    (with-current-buffer (get-buffer-create "*routerls report*")
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert markdown)
        (goto-char (point-min))
        (when (fboundp 'markdown-mode) (markdown-mode))
        (setq buffer-read-only t))
      (display-buffer (current-buffer)))))

(defcustom routerls-report-html-file
  (expand-file-name "routerls-dashboard.html" temporary-file-directory)
  "Where `routerls-report-html' writes the spend dashboard."
  :type 'file)

(defcustom routerls-open-html-function #'browse-url-of-file
  "Called with the dashboard's file name to show it (default: the browser, via `browse-url')."
  :type 'function)

(defun routerls-report-html (&optional by)
  "Write the spend dashboard (charts per day, or per BY week) to `routerls-report-html-file'
and open it with `routerls-open-html-function'.  One HTML file: no script, no network."
  (interactive)
  (let* ((server (or (car (routerls--servers)) (user-error "routerls is not running")))
         (html (jsonrpc-request server :workspace/executeCommand
                                `(:command "routerls.dashboard" :arguments [(:by ,(or by "day"))])))
         (coding-system-for-write 'utf-8))
    (unless (stringp html) (user-error "routerls: the server sent no dashboard"))
    (make-directory (file-name-directory routerls-report-html-file) t)
    (write-region html nil routerls-report-html-file nil 'silent)
    (funcall routerls-open-html-function routerls-report-html-file)
    routerls-report-html-file))

(dolist (mode routerls-modes)
  (setf (alist-get mode eglot-server-programs) (cons 'eglot-routerls routerls-command)))
(defun routerls--on-connect (server)
  "After eglot's own `workspace/didChangeConfiguration' (empty unless
`eglot-workspace-configuration' is set, which would drop the settings given at initialize),
send `routerls-settings' again, then load the spend for the mode line."
  (when (cl-typep server 'eglot-routerls)
    (jsonrpc-notify server :workspace/didChangeConfiguration
                    (list :settings (list :routerls (or routerls-settings (make-hash-table)))))
    (routerls--load-spend server)))

(add-hook 'eglot-connect-hook #'routerls--on-connect t)
(unless (member 'routerls-mode-line-format global-mode-string)
  (setq global-mode-string (append (or global-mode-string '("")) '(routerls-mode-line-format))))

(provide 'routerls)
;;; routerls.el ends here
