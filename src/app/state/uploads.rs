//! The files the next message carries. Each one added (picked, pasted or dropped) uploads at
//! once, beside the others; the message is sent when all of them are stored ([`Held`]), and
//! only then enters the outbox, with their ids. A failed upload waits for `Retry` (the picked
//! file is kept for it) or `Remove`.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::ChatState;
use crate::app::model::files::{
    Attaching, Upload, UploadState, attaching, human_size, pasted_name,
};
use crate::app::model::outbox::Pending;
use crate::app::platform::{self, PickedFile};
use crate::protocol::{MAX_FILES, check_file_name};

/// A message sent while its files were uploading, as it was sent (its room, name and the
/// message it answers): it enters the outbox as soon as they are all stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held(pub Pending);

/// The files picked, by the upload they are for (what `Retry` sends again), and the last
/// upload's number: numbers are never given twice, so that an upload removed while it was on
/// its way cannot finish as another.
#[derive(Clone, Copy)]
pub(super) struct Picked(StoredValue<(Vec<(u32, PickedFile)>, u32), LocalStorage>);

impl Picked {
    pub fn new() -> Self {
        Self(StoredValue::new_local((Vec::new(), 0)))
    }
}

impl ChatState {
    /// Files added to the composer: each is shown and uploads at once. A file over the
    /// server's limit, or beyond the most files a message carries, is refused at once, without
    /// being sent.
    pub fn attach(self, files: Vec<PickedFile>) {
        for file in files {
            let local = self
                .picked
                .0
                .try_update_value(|(_, last)| {
                    *last += 1;
                    *last
                })
                .unwrap_or_default();
            let name = pasted_name(&file.name(), &file.kind());
            let size = file.size();
            // Refused ones do not count: they are not sent.
            let count = self.uploads.with_untracked(|uploads| {
                uploads
                    .iter()
                    .filter(|upload| !matches!(upload.state, UploadState::Refused(_)))
                    .count()
            });
            let refusal = if let Err(why) = check_file_name(&name) {
                Some(format!("Its name cannot be sent: {why}"))
            } else if size > self.settings.max_file_bytes {
                Some(format!(
                    "Too large: at most {} a file",
                    human_size(self.settings.max_file_bytes)
                ))
            } else if count >= MAX_FILES {
                Some(format!("At most {MAX_FILES} files go with one message"))
            } else {
                None
            };
            let sending = refusal.is_none();
            let state = refusal.map_or(UploadState::Uploading, UploadState::Refused);
            self.uploads.update(|uploads| {
                uploads.push(Upload {
                    local,
                    name,
                    size,
                    state,
                })
            });
            if sending {
                self.picked
                    .0
                    .update_value(|(picked, _)| picked.push((local, file)));
                self.upload(local);
            }
        }
    }

    /// `Retry` of a failed upload.
    pub fn retry_upload(self, local: u32) {
        if !matches!(
            self.upload_of(local).map(|upload| upload.state),
            Some(UploadState::Failed(_))
        ) {
            return;
        }
        self.set_upload(local, UploadState::Uploading);
        self.upload(local);
    }

    /// `Remove <name>`: the file does not go with the message (an upload on its way is left to
    /// finish; the server removes a file never attached).
    pub fn remove_upload(self, local: u32) {
        self.uploads
            .update(|uploads| uploads.retain(|upload| upload.local != local));
        self.picked
            .0
            .update_value(|(picked, _)| picked.retain(|(at, _)| *at != local));
        self.send_held();
    }

    /// Whether leaving the page now would lose what it has not sent: a file on its way, or a
    /// message waiting for its files (the outbox keeps a message only once they are stored).
    pub fn unsent_files(self) -> bool {
        self.held.with(Option::is_some)
            || self.uploads.with(|uploads| {
                uploads
                    .iter()
                    .any(|upload| matches!(upload.state, UploadState::Uploading))
            })
    }

    /// The files are sent: the picked ones are not kept any more.
    pub(super) fn forget_picked(self) {
        self.picked.0.update_value(|(picked, _)| picked.clear());
    }

    fn upload_of(self, local: u32) -> Option<Upload> {
        self.uploads
            .with_untracked(|uploads| uploads.iter().find(|upload| upload.local == local).cloned())
    }

    fn set_upload(self, local: u32, state: UploadState) {
        self.uploads.update(|uploads| {
            if let Some(upload) = uploads.iter_mut().find(|upload| upload.local == local) {
                upload.state = state;
            }
        });
    }

    /// Sends upload `local`'s file with this browser's key (made now if it has none: a file
    /// is attached only with the key it was uploaded with).
    fn upload(self, local: u32) {
        let file = self.picked.0.with_value(|(picked, _)| {
            picked
                .iter()
                .find(|(at, _)| *at == local)
                .map(|(_, file)| file.clone())
        });
        let (Some(file), Some(upload)) = (file, self.upload_of(local)) else {
            return;
        };
        let Some(key) = self.key() else {
            self.set_upload(
                local,
                UploadState::Failed("This browser cannot make a key to send files with".into()),
            );
            return;
        };
        spawn_local(async move {
            let result = platform::upload(&file, &upload.name, &key).await;
            // The page, or this upload, may be gone by now.
            if self.uploads.try_get_untracked().is_none() || self.upload_of(local).is_none() {
                return;
            }
            self.set_upload(
                local,
                match result {
                    Ok(stored) => UploadState::Done(stored),
                    Err((reason, true)) => UploadState::Failed(reason),
                    // Refused for what it is (too large an image, a ban): trying again cannot help.
                    Err((reason, false)) => UploadState::Refused(reason),
                },
            );
            self.send_held();
        });
    }

    /// Sends the held message once every upload is stored.
    fn send_held(self) {
        let Attaching::Ready(files) = self.uploads.with_untracked(|uploads| attaching(uploads))
        else {
            return;
        };
        let Some(Held(pending)) = self.held.get_untracked() else {
            return;
        };
        self.held.set(None);
        // Nothing left to send (its files removed, no text): dropped, as a blank one is.
        if files.is_empty() && pending.message.is_empty() {
            return;
        }
        self.enqueue(Pending { files, ..pending });
    }
}
