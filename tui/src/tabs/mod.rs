//! The screens, in tab order. A new tab is one file (or a folder, for a screen made of parts)
//! in this folder implementing [`Component`](crate::component::Component) (with `Default`) plus
//! one entry in the list below.

use crate::component::Component;

/// Declares each tab's module and builds the tabs in the order listed.
macro_rules! tabs {
    ($($module:ident :: $component:ident),* $(,)?) => {
        $(mod $module;)*

        pub fn all() -> Vec<Box<dyn Component>> {
            vec![$(Box::new($module::$component::default())),*]
        }
    };
}

tabs![
    dashboard::Dashboard,
    users::Users,
    audit::Audit,
    sessions::Sessions,
    workers::Workers,
    notices::Notices,
    legal::Legal,
    shares::Shares,
];
