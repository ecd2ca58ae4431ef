import nodemailer, { type Transporter } from 'nodemailer'
import type { Logger } from 'pino'

export interface Mail {
  to: string
  subject: string
  text: string
}

export interface Mailer {
  /** True when mail really leaves the hub (SMTP configured). */
  readonly delivers: boolean
  send(mail: Mail): Promise<void>
}

export class SmtpMailer implements Mailer {
  readonly delivers = true
  private readonly transport: Transporter

  constructor(
    url: string,
    private readonly from: string,
  ) {
    this.transport = nodemailer.createTransport(url)
  }

  async send(mail: Mail): Promise<void> {
    await this.transport.sendMail({ from: this.from, to: mail.to, subject: mail.subject, text: mail.text })
  }

  close(): void {
    this.transport.close()
  }
}

/**
 * Without SMTP there is nobody to deliver to: the message goes to the hub's log at warn level, where
 * the operator can pass it on. This is the one place a secret (a one-time reset token) is logged,
 * on purpose, and only when the operator has not configured mail.
 */
export class LogMailer implements Mailer {
  readonly delivers = false

  constructor(private readonly logger: Logger) {}

  async send(mail: Mail): Promise<void> {
    this.logger.warn(
      { mailTo: mail.to, mailSubject: mail.subject, mailText: mail.text },
      'no SMTP configured (VMS_SMTP_URL): this mail was not sent; pass it on to its recipient',
    )
  }
}
